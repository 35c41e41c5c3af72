// Big answers: a service of 1,000 instances over TCP, truncation over UDP
// (512 bytes, EDNS sizes), --a-record-limit, rotation.
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

namespace svcdns::testing::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;

// A catalog: "big" with `big` instances (one per node, distinct addresses),
// "five" with 5 instances.
std::string BigCatalog(int big) {
  std::vector<std::string> nodes;
  for (int i = 0; i < big; ++i) {
    nodes.push_back(absl::StrFormat(
        R"({"node": {"name": "n%d", "address": "10.%d.%d.%d"},)"
        R"( "services": [{"id": "big-%d", "name": "big", "port": %d}]})",
        i, 1 + i / 250 / 250, (i / 250) % 250, 1 + i % 250, i, 20000 + i));
  }
  for (int i = 0; i < 5; ++i) {
    nodes.push_back(absl::StrFormat(
        R"({"node": {"name": "f%d", "address": "10.200.0.%d"},)"
        R"( "services": [{"id": "five-%d", "name": "five", "port": 7000}]})",
        i, i + 1, i));
  }
  return absl::StrCat(R"({"index": 1, "nodes": [)", absl::StrJoin(nodes, ",\n"), "]}");
}

class SizeLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { catalog_ = dir_.Write("catalog.json", BigCatalog(1000)); }
  TempDir dir_;
  std::string catalog_;
};

TEST_F(SizeLimitsTest, TcpAnswersEveryInstance) {
  SVCDNS_START_SERVER(server, {"--catalog", catalog_});
  QueryOptions tcp;
  tcp.tcp = true;
  tcp.timeout_ms = 5000;
  {
    SVCDNS_QUERY(r, server->port(), "big.service.consul", LDNS_RR_TYPE_SRV, tcp);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_FALSE(r->tc());
    std::vector<std::string> srv = r->AnswerRdata(LDNS_RR_TYPE_SRV);
    EXPECT_THAT(srv, SizeIs(1000));
    std::set<std::string> distinct(srv.begin(), srv.end());
    EXPECT_EQ(distinct.size(), 1000u);
    EXPECT_TRUE(distinct.count("1 1 20000 n0.node.dc1.consul."));
    EXPECT_TRUE(distinct.count("1 1 20999 n999.node.dc1.consul."));
    EXPECT_LE(r->wire_size(), 65535u);
    // Additional addresses are optional, but those present are right and distinct.
    std::vector<std::string> extra = r->AdditionalRdata(LDNS_RR_TYPE_A);
    EXPECT_GE(extra.size(), 1u);
    std::set<std::string> extra_set(extra.begin(), extra.end());
    EXPECT_EQ(extra_set.size(), extra.size());
  }
  {
    SVCDNS_QUERY(r, server->port(), "big.service.consul", LDNS_RR_TYPE_A, tcp);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_FALSE(r->tc());
    std::vector<std::string> a = r->AnswerRdata(LDNS_RR_TYPE_A);
    EXPECT_THAT(a, SizeIs(1000));
    std::set<std::string> distinct(a.begin(), a.end());
    EXPECT_EQ(distinct.size(), 1000u);
  }
}

TEST_F(SizeLimitsTest, UdpWithoutEdnsIsTruncatedTo512) {
  SVCDNS_START_SERVER(server, {"--catalog", catalog_});
  for (ldns_rr_type type : {LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_A, LDNS_RR_TYPE_ANY}) {
    SCOPED_TRACE(type);
    SVCDNS_QUERY(r, server->port(), "big.service.consul", type);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_LE(r->wire_size(), 512u);
    EXPECT_TRUE(r->tc());
    EXPECT_TRUE(r->aa());
    EXPECT_GE(AnswerCount(*r), 1u);
    // As many as fit: another record would not.
    EXPECT_GT(r->wire_size() + (type == LDNS_RR_TYPE_SRV ? 40 : 16), 512u);
  }
}

TEST_F(SizeLimitsTest, UdpWithEdnsIsTruncatedToTheSmallerSize) {
  SVCDNS_START_SERVER(server, {"--catalog", catalog_});
  for (uint16_t size : {1232, 4096, 65535}) {
    for (ldns_rr_type type : {LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_A}) {
      SCOPED_TRACE(absl::StrCat(size, " ", type));
      QueryOptions edns;
      edns.edns = true;
      edns.edns_size = size;
      SVCDNS_QUERY(r, server->port(), "big.service.consul", type, edns);
      EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
      EXPECT_LE(r->wire_size(), 1232u);  // --max-udp-size defaults to 1232
      EXPECT_GT(r->wire_size(), 1232u - 40);
      EXPECT_TRUE(r->tc());
      EXPECT_TRUE(r->has_edns());
      EXPECT_GE(AnswerCount(*r), 20u);
    }
  }
  // A client size below 512 counts as 512.
  QueryOptions tiny;
  tiny.edns = true;
  tiny.edns_size = 100;
  SVCDNS_QUERY(r, server->port(), "big.service.consul", LDNS_RR_TYPE_A, tiny);
  EXPECT_LE(r->wire_size(), 512u);
  EXPECT_GT(r->wire_size(), 512u - 16);
  EXPECT_TRUE(r->tc());
  EXPECT_TRUE(r->has_edns());
}

TEST_F(SizeLimitsTest, MaxUdpSizeFlag) {
  SVCDNS_START_SERVER(server, {"--catalog", catalog_, "--max-udp-size", "4000"});
  QueryOptions edns;
  edns.edns = true;
  edns.edns_size = 4096;
  SVCDNS_QUERY(r, server->port(), "big.service.consul", LDNS_RR_TYPE_A, edns);
  EXPECT_LE(r->wire_size(), 4000u);
  EXPECT_GT(r->wire_size(), 4000u - 16);
  EXPECT_TRUE(r->tc());
  EXPECT_EQ(ldns_pkt_edns_udp_size(r->pkt()), 4000);
}

TEST_F(SizeLimitsTest, ARecordLimit) {
  SVCDNS_START_SERVER(server, {"--catalog", catalog_, "--a-record-limit", "3"});
  for (bool tcp : {false, true}) {
    SCOPED_TRACE(tcp ? "tcp" : "udp");
    QueryOptions options;
    options.tcp = tcp;
    SVCDNS_QUERY(r, server->port(), "big.service.consul", LDNS_RR_TYPE_A, options);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), SizeIs(3));
    EXPECT_THAT(r->Answer(), SizeIs(3));
    EXPECT_FALSE(r->tc());
  }
  // Fewer instances than the limit: all of them.
  SVCDNS_QUERY(five, server->port(), "five.service.consul", LDNS_RR_TYPE_A);
  EXPECT_THAT(five->AnswerRdata(LDNS_RR_TYPE_A), SizeIs(3));
  SVCDNS_QUERY(one, server->port(), "n0.node.consul", LDNS_RR_TYPE_A);
  EXPECT_THAT(one->AnswerRdata(LDNS_RR_TYPE_A), SizeIs(1));
}

TEST_F(SizeLimitsTest, ARecordsRotate) {
  SVCDNS_START_SERVER(server, {"--catalog", catalog_});
  std::set<std::string> firsts;
  for (int i = 0; i < 20; ++i) {
    SVCDNS_QUERY(r, server->port(), "five.service.consul", LDNS_RR_TYPE_A);
    std::vector<std::string> a = r->AnswerRdata(LDNS_RR_TYPE_A);
    ASSERT_THAT(a, SizeIs(5));
    std::set<std::string> all(a.begin(), a.end());
    EXPECT_EQ(all.size(), 5u);
    firsts.insert(a[0]);
  }
  EXPECT_GT(firsts.size(), 1u) << "the same address came first 20 times";

  std::set<std::string> srv_firsts;
  for (int i = 0; i < 20; ++i) {
    SVCDNS_QUERY(r, server->port(), "five.service.consul", LDNS_RR_TYPE_SRV);
    std::vector<std::string> srv = r->AnswerRdata(LDNS_RR_TYPE_SRV);
    ASSERT_THAT(srv, SizeIs(5));
    // Each target's address is in the additional section.
    EXPECT_THAT(r->AdditionalRdata(LDNS_RR_TYPE_A), SizeIs(5));
    srv_firsts.insert(srv[0]);
  }
  EXPECT_GT(srv_firsts.size(), 1u) << "the same SRV came first 20 times";
}

// An answer bigger than a UDP datagram can be (65,507 bytes over IPv4) is
// never sent, and the failed sendmmsg drops the rest of its batch.
TEST_F(SizeLimitsTest, MaxUdpSizeAboveTheDatagramLimit) {
  SVCDNS_START_SERVER(server, {"--catalog", catalog_, "--max-udp-size", "65535"});
  QueryOptions big;
  big.edns = true;
  big.edns_size = 65535;
  big.timeout_ms = 1000;
  {
    auto r = Query("127.0.0.1", server->port(), "big.service.consul", LDNS_RR_TYPE_SRV, big);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      EXPECT_LE((*r)->wire_size(), 65507u);
      EXPECT_GE(AnswerCount(**r), 1000u);
    }
  }
  // A big query then small ones, back to back on one socket (one worker, one batch).
  for (int trial = 0; trial < 5; ++trial) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server->port());
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::string q = QueryWire("big.service.consul", LDNS_RR_TYPE_SRV, true, 65535, 1);
    send(fd, q.data(), q.size(), 0);
    for (uint16_t id = 2; id <= 11; ++id) {
      q = QueryWire(absl::StrCat("n", id, ".node.consul"), LDNS_RR_TYPE_A, false, 512, id);
      send(fd, q.data(), q.size(), 0);
    }
    std::set<int> ids;
    while (true) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 500) != 1) break;
      char buf[65536];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n >= 2) ids.insert(RawId(std::string(buf, 2)));
    }
    close(fd);
    for (int id = 2; id <= 11; ++id) {
      EXPECT_TRUE(ids.count(id)) << "trial " << trial << ": no answer to small query " << id;
    }
  }
}

}  // namespace
}  // namespace svcdns::testing::integration
