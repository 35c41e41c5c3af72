#include "server/responder.h"


#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catalog/snapshot_builder.h"
#include "gtest/gtest.h"
#include "tests/server/allocation_counter.h"
#include "tests/testing/dns_client.h"

namespace svcdns::server {
namespace {

using catalog::Catalog;
using catalog::Check;
using catalog::Health;
using catalog::NodeState;
using catalog::Service;
using testing::DnsReply;
using testing::QueryWire;

NodeState MakeNode(const std::string& name, const std::string& address,
                   const std::string& dc = "") {
  NodeState n;
  n.node.name = name;
  n.node.address = address;
  n.node.datacenter = dc;
  return n;
}

Service MakeService(const std::string& id, const std::string& name, uint16_t port,
                    std::vector<std::string> tags = {}, const std::string& address = "") {
  Service s;
  s.id = id;
  s.name = name;
  s.port = port;
  s.tags = std::move(tags);
  s.address = address;
  return s;
}

Check MakeCheck(const std::string& id, const std::string& service_id, Health status) {
  Check c;
  c.id = id;
  c.service_id = service_id;
  c.status = status;
  return c;
}

// Two datacenters; web on two nodes, one instance critical, one warning.
Catalog TestCatalog() {
  Catalog c;
  c.index = 7;
  NodeState n1 = MakeNode("n1", "10.0.0.1");
  n1.node.meta = {{"rack", "r1"}, {"os", "linux"}};
  n1.services.push_back(MakeService("web1", "web", 8080, {"v1", "Primary"}));
  n1.services.push_back(MakeService("red0", "redis", 6000, {"primary"}, "10.3.13.112"));
  n1.services.push_back(MakeService("db1", "db", 5432));
  n1.checks.push_back(MakeCheck("db1-check", "db1", Health::kCritical));
  NodeState n2 = MakeNode("n2", "10.0.0.2");
  n2.services.push_back(MakeService("web2", "web", 9080, {"v2"}));
  n2.services.back().Mutable().weights = {10, 3};
  n2.checks.push_back(MakeCheck("web2-check", "web2", Health::kWarning));
  NodeState n3 = MakeNode("n3", "2001:db8::3");
  n3.services.push_back(MakeService("web3", "web", 7080, {"v1"}));
  n3.checks.push_back(MakeCheck("serfHealth", "", Health::kCritical));  // node check
  NodeState n4 = MakeNode("n4", "10.1.0.4", "dc2");
  n4.services.push_back(MakeService("web4", "web", 8080));
  NodeState n5 = MakeNode("n5", "2001:db8::5");
  n5.services.push_back(MakeService("v6only", "v6only", 80));
  c.nodes = {n1, n2, n3, n4, n5};
  return c;
}

class ResponderTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(catalog::SnapshotOptions{}); }

  void Build(const catalog::SnapshotOptions& options) {
    auto snapshot = catalog::BuildSnapshot(TestCatalog(), options);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    snapshot_ = *std::move(snapshot);
  }

  std::unique_ptr<DnsReply> Ask(const std::string& name, ldns_rr_type type,
                                Transport transport = Transport::kUdp, bool edns = false,
                                uint16_t edns_size = 1232) {
    std::string wire = QueryWire(name, type, edns, edns_size);
    return AskRaw(wire, transport);
  }

  std::unique_ptr<DnsReply> AskRaw(const std::string& wire, Transport transport = Transport::kUdp) {
    size_t n = responder_.Answer(*snapshot_, reinterpret_cast<const uint8_t*>(wire.data()),
                                 wire.size(), transport, out_.data());
    if (n == 0) return nullptr;
    last_size_ = n;
    ldns_pkt* pkt = nullptr;
    EXPECT_EQ(ldns_wire2pkt(&pkt, out_.data(), n), LDNS_STATUS_OK);
    return pkt ? std::make_unique<DnsReply>(pkt, n) : nullptr;
  }

  std::unique_ptr<const catalog::Snapshot> snapshot_;
  ResponderOptions options_;
  Responder responder_{options_};
  std::vector<uint8_t> out_ = std::vector<uint8_t>(65536);
  size_t last_size_ = 0;
};

std::set<std::string> AsSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

TEST_F(ResponderTest, ServiceA_LeavesOutCriticalInstancesAndNodes) {
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_A);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(r->aa());
  EXPECT_FALSE(r->ra());
  EXPECT_EQ(AsSet(r->AnswerRdata(LDNS_RR_TYPE_A)), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST_F(ResponderTest, OnlyPassingDropsWarningInstances) {
  catalog::SnapshotOptions options;
  options.only_passing = true;
  Build(options);
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(AsSet(r->AnswerRdata(LDNS_RR_TYPE_A)), (std::set<std::string>{"10.0.0.1"}));
}

TEST_F(ResponderTest, SrvHasWeightsTargetsAndAdditionalAddresses) {
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(AsSet(r->AnswerRdata(LDNS_RR_TYPE_SRV)),
            (std::set<std::string>{"1 1 8080 n1.node.dc1.consul.", "1 3 9080 n2.node.dc1.consul."}));
  EXPECT_EQ(AsSet(r->Additional()),
            (std::set<std::string>{"n1.node.dc1.consul.\t0\tIN\tA\t10.0.0.1",
                                   "n2.node.dc1.consul.\t0\tIN\tA\t10.0.0.2"}));
}

TEST_F(ResponderTest, ServiceAddressTargetsAddrName) {
  auto r = Ask("redis.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(r->AnswerRdata(LDNS_RR_TYPE_SRV),
            (std::vector<std::string>{"1 1 6000 0a030d70.addr.dc1.consul."}));
  EXPECT_EQ(r->AdditionalRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.3.13.112"}));
  auto a = Ask("0a030d70.addr.dc1.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(a->AnswerRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.3.13.112"}));
}

TEST_F(ResponderTest, TagsFilterAndMatchCaseInsensitively) {
  auto v1 = Ask("v1.web.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(v1->AnswerRdata(LDNS_RR_TYPE_SRV), (std::vector<std::string>{"1 1 8080 n1.node.dc1.consul."}));
  auto rfc = Ask("_web._v2.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(rfc->AnswerRdata(LDNS_RR_TYPE_SRV), (std::vector<std::string>{"1 3 9080 n2.node.dc1.consul."}));
  auto any = Ask("_web._tcp.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(any->AnswerRdata(LDNS_RR_TYPE_SRV).size(), 2u);
  auto upper = Ask("PRIMARY.web.service.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(upper->AnswerRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.0.0.1"}));
  EXPECT_EQ(upper->QuestionName(), "PRIMARY.web.service.consul.");
  EXPECT_EQ(Ask("v9.web.service.consul", LDNS_RR_TYPE_A)->rcode(), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, AnswerKeepsTheClientsLetterCase) {
  auto r = Ask("WeB.SeRvIcE.CoNsUl", LDNS_RR_TYPE_A);
  EXPECT_EQ(r->QuestionName(), "WeB.SeRvIcE.CoNsUl.");
  ASSERT_FALSE(r->Answer().empty());
  EXPECT_EQ(r->Answer()[0].substr(0, 19), "WeB.SeRvIcE.CoNsUl.");
}

TEST_F(ResponderTest, Datacenters) {
  for (const char* name : {"web.service.dc2.consul", "web.service.dc2.dc.consul"}) {
    auto r = Ask(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(r->AnswerRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.1.0.4"})) << name;
  }
  EXPECT_EQ(Ask("web.service.dc1.dc.consul", LDNS_RR_TYPE_A)->AnswerRdata(LDNS_RR_TYPE_A).size(), 2u);
  EXPECT_EQ(Ask("web.service.dc9.consul", LDNS_RR_TYPE_A)->rcode(), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(Ask("dc2.dc.consul", LDNS_RR_TYPE_A)->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_EQ(Ask("dc9.dc.consul", LDNS_RR_TYPE_A)->rcode(), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, NoHealthyInstanceIsNxDomainWithSoa) {
  auto r = Ask("db.service.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(r->aa());
  ASSERT_EQ(r->Authority().size(), 1u);
  EXPECT_EQ(r->Authority()[0],
            "consul.\t0\tIN\tSOA\tns.consul. hostmaster.consul. 7 3600 600 86400 0");
}

TEST_F(ResponderTest, NodataForOtherTypesAndEmptyNonTerminals) {
  for (auto [name, type] : std::vector<std::pair<const char*, ldns_rr_type>>{
           {"web.service.consul", LDNS_RR_TYPE_TXT},
           {"web.service.consul", LDNS_RR_TYPE_DS},
           {"web.service.consul", LDNS_RR_TYPE_DNSKEY},
           {"web.service.consul", LDNS_RR_TYPE_AAAA},
           {"v6only.service.consul", LDNS_RR_TYPE_A},
           {"service.consul", LDNS_RR_TYPE_A},
           {"node.consul", LDNS_RR_TYPE_A},
           {"_tcp.service.consul", LDNS_RR_TYPE_SRV},
           {"_v1.service.consul", LDNS_RR_TYPE_SRV},
           {"service.dc2.dc.consul", LDNS_RR_TYPE_A},
           {"consul", LDNS_RR_TYPE_A}}) {
    auto r = Ask(name, type);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR) << name;
    EXPECT_TRUE(r->Answer().empty()) << name;
    EXPECT_EQ(r->Authority().size(), 1u) << name;
  }
}

TEST_F(ResponderTest, LookupHashIsTheHashOfTheAnswersLookedUp) {
  // What a batch prefetches must be what Answer() then finds: the hash of
  // the key it looks up, which the snapshot holds.
  auto hash_of = [&](const std::string& name, ldns_rr_type type = LDNS_RR_TYPE_A) {
    std::string wire = QueryWire(name, type, false, 0);
    return responder_.LookupHash(*snapshot_, reinterpret_cast<const uint8_t*>(wire.data()),
                                 wire.size());
  };
  auto key_hash = [&](catalog::KeyKind kind, std::vector<absl::string_view> labels) {
    catalog::LookupKey key(kind);
    for (absl::string_view label : labels) EXPECT_TRUE(key.AddLabel(label));
    EXPECT_NE(snapshot_->Find(key.view()), nullptr) << "not a key of the snapshot";
    return catalog::AnswerMap::KeyHash(key.view());
  };
  using catalog::KeyKind;
  EXPECT_EQ(hash_of("web.service.consul"), key_hash(KeyKind::kService, {"dc1", "web", ""}));
  EXPECT_EQ(hash_of("WEB.Service.consul", LDNS_RR_TYPE_SRV),
            key_hash(KeyKind::kService, {"dc1", "web", ""}));
  EXPECT_EQ(hash_of("v1.web.service.consul"), key_hash(KeyKind::kService, {"dc1", "web", "v1"}));
  EXPECT_EQ(hash_of("_web._v1.service.consul", LDNS_RR_TYPE_SRV),
            key_hash(KeyKind::kService, {"dc1", "web", "v1"}));
  EXPECT_EQ(hash_of("web.service.dc2.consul"), key_hash(KeyKind::kService, {"dc2", "web", ""}));
  EXPECT_EQ(hash_of("n1.node.consul"), key_hash(KeyKind::kNode, {"dc1", "n1"}));
  // Nothing to prefetch: names of other kinds, names outside, malformed.
  EXPECT_EQ(hash_of("consul", LDNS_RR_TYPE_SOA), 0u);
  EXPECT_EQ(hash_of("example.org"), 0u);
  const uint8_t garbage[5] = {1, 2, 3, 4, 5};
  EXPECT_EQ(responder_.LookupHash(*snapshot_, garbage, sizeof(garbage)), 0u);
}

TEST_F(ResponderTest, Nodes) {
  auto a = Ask("n1.node.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(a->AnswerRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.0.0.1"}));
  auto aaaa = Ask("n3.node.dc1.dc.consul", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(aaaa->AnswerRdata(LDNS_RR_TYPE_AAAA), (std::vector<std::string>{"2001:db8::3"}));
  auto txt = Ask("n1.node.consul", LDNS_RR_TYPE_TXT);
  EXPECT_EQ(AsSet(txt->AnswerRdata(LDNS_RR_TYPE_TXT)),
            (std::set<std::string>{"\"os=linux\"", "\"rack=r1\""}));
  EXPECT_EQ(Ask("nope.node.consul", LDNS_RR_TYPE_A)->rcode(), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, AddrNames) {
  EXPECT_EQ(Ask("c000020a.addr.consul", LDNS_RR_TYPE_A)->AnswerRdata(LDNS_RR_TYPE_A),
            (std::vector<std::string>{"192.0.2.10"}));
  EXPECT_EQ(Ask("20010db8000000000000000000000003.addr.consul", LDNS_RR_TYPE_AAAA)
                ->AnswerRdata(LDNS_RR_TYPE_AAAA),
            (std::vector<std::string>{"2001:db8::3"}));
  EXPECT_EQ(Ask("zz00020a.addr.consul", LDNS_RR_TYPE_A)->rcode(), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(Ask("c00002.addr.consul", LDNS_RR_TYPE_A)->rcode(), LDNS_RCODE_NXDOMAIN);
  auto nodata = Ask("c000020a.addr.consul", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(nodata->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(nodata->Answer().empty());
}

TEST_F(ResponderTest, ReverseNames) {
  auto r = Ask("1.0.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
  EXPECT_EQ(r->AnswerRdata(LDNS_RR_TYPE_PTR), (std::vector<std::string>{"n1.node.dc1.consul."}));
  auto svc = Ask("112.13.3.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
  EXPECT_EQ(svc->AnswerRdata(LDNS_RR_TYPE_PTR), (std::vector<std::string>{"redis.service.dc1.consul."}));
  auto v6 = Ask("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                LDNS_RR_TYPE_PTR);
  EXPECT_EQ(v6->AnswerRdata(LDNS_RR_TYPE_PTR), (std::vector<std::string>{"n3.node.dc1.consul."}));
  EXPECT_EQ(Ask("9.9.9.9.in-addr.arpa", LDNS_RR_TYPE_PTR)->rcode(), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, ApexSoaNsAndNameserver) {
  auto soa = Ask("consul", LDNS_RR_TYPE_SOA);
  EXPECT_EQ(soa->AnswerRdata(LDNS_RR_TYPE_SOA),
            (std::vector<std::string>{"ns.consul. hostmaster.consul. 7 3600 600 86400 0"}));
  auto ns = Ask("consul", LDNS_RR_TYPE_NS);
  EXPECT_EQ(ns->AnswerRdata(LDNS_RR_TYPE_NS), (std::vector<std::string>{"ns.consul."}));
  EXPECT_EQ(ns->Additional(), (std::vector<std::string>{"ns.consul.\t0\tIN\tA\t127.0.0.1"}));
  EXPECT_EQ(Ask("ns.consul", LDNS_RR_TYPE_A)->AnswerRdata(LDNS_RR_TYPE_A),
            (std::vector<std::string>{"127.0.0.1"}));
}

TEST_F(ResponderTest, AltDomain) {
  catalog::SnapshotOptions options;
  options.alt_domain = "example.internal";
  Build(options);
  auto r = Ask("web.service.example.internal", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(AsSet(r->AnswerRdata(LDNS_RR_TYPE_SRV)),
            (std::set<std::string>{"1 1 8080 n1.node.dc1.example.internal.",
                                   "1 3 9080 n2.node.dc1.example.internal."}));
  auto neg = Ask("nope.service.example.internal", LDNS_RR_TYPE_A);
  ASSERT_EQ(neg->Authority().size(), 1u);
  EXPECT_EQ(neg->Authority()[0].substr(0, 17), "example.internal.");
}

TEST_F(ResponderTest, OutsideIsRefusedWithoutAa) {
  auto r = Ask("example.com", LDNS_RR_TYPE_A);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_REFUSED);
  EXPECT_FALSE(r->aa());
  EXPECT_EQ(Ask("web.service.consul", LDNS_RR_TYPE_AXFR)->rcode(), LDNS_RCODE_REFUSED);
}

TEST_F(ResponderTest, EdnsEchoedWithOurSize) {
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_A, Transport::kUdp, true, 4096);
  EXPECT_TRUE(r->has_edns());
  EXPECT_EQ(ldns_pkt_edns_udp_size(r->pkt()), 1232);
  EXPECT_FALSE(Ask("web.service.consul", LDNS_RR_TYPE_A)->has_edns());
}

TEST_F(ResponderTest, BadVersionAndNotImp) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A, true);
  wire[wire.size() - 11 + 6] = 1;
  auto r = AskRaw(wire);
  ASSERT_TRUE(r);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(r->pkt()), 1);  // BADVERS = 16
  std::string update = QueryWire("web.service.consul", LDNS_RR_TYPE_A);
  update[2] = static_cast<char>((update[2] & 0x87) | (5 << 3));
  EXPECT_EQ(AskRaw(update)->rcode(), LDNS_RCODE_NOTIMPL);
  std::string formerr = update.substr(0, 12);
  formerr[2] = 0;
  EXPECT_EQ(AskRaw(formerr)->rcode(), LDNS_RCODE_FORMERR);
}

TEST_F(ResponderTest, RotatesRecords) {
  std::set<std::string> first;
  for (int i = 0; i < 10; ++i) {
    first.insert(Ask("web.service.consul", LDNS_RR_TYPE_A)->AnswerRdata(LDNS_RR_TYPE_A)[0]);
  }
  EXPECT_EQ(first.size(), 2u);
}

// A catalog of one service with `n` instances on `n` nodes.
Catalog BigCatalog(int n) {
  Catalog c;
  for (int i = 0; i < n; ++i) {
    NodeState node = MakeNode(absl::StrCat("node-", i),
                              absl::StrCat("10.", i / 65536, ".", i / 256 % 256, ".", i % 256));
    node.services.push_back(MakeService(absl::StrCat("big", i), "big", 8000 + i % 1000));
    c.nodes.push_back(node);
  }
  return c;
}

TEST_F(ResponderTest, TruncatesToWholeRecordsOverUdpAndAnswersAllOverTcp) {
  snapshot_ = *catalog::BuildSnapshot(BigCatalog(1000), {});
  auto udp = Ask("big.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_LE(last_size_, 512u);
  EXPECT_TRUE(udp->tc());
  EXPECT_GE(udp->AnswerRdata(LDNS_RR_TYPE_SRV).size(), 5u);
  auto edns = Ask("big.service.consul", LDNS_RR_TYPE_A, Transport::kUdp, true, 4096);
  EXPECT_LE(last_size_, 1232u);
  EXPECT_TRUE(edns->tc());
  EXPECT_TRUE(edns->has_edns());
  auto tcp = Ask("big.service.consul", LDNS_RR_TYPE_SRV, Transport::kTcp);
  EXPECT_FALSE(tcp->tc());
  EXPECT_EQ(tcp->AnswerRdata(LDNS_RR_TYPE_SRV).size(), 1000u);
  // Additional records are optional: as many as fit in 64 KiB, no TC.
  EXPECT_GT(tcp->AdditionalRdata(LDNS_RR_TYPE_A).size(), 500u);
  EXPECT_LE(last_size_, 65535u);
  auto tcp_a = Ask("big.service.consul", LDNS_RR_TYPE_A, Transport::kTcp);
  EXPECT_EQ(AsSet(tcp_a->AnswerRdata(LDNS_RR_TYPE_A)).size(), 1000u);
}

TEST_F(ResponderTest, ARecordLimitCapsWithoutTruncation) {
  snapshot_ = *catalog::BuildSnapshot(BigCatalog(50), {});
  ResponderOptions options;
  options.a_record_limit = 3;
  Responder limited(options);
  std::string wire = QueryWire("big.service.consul", LDNS_RR_TYPE_A);
  size_t n = limited.Answer(*snapshot_, reinterpret_cast<const uint8_t*>(wire.data()),
                            wire.size(), Transport::kUdp, out_.data());
  ldns_pkt* pkt = nullptr;
  ASSERT_EQ(ldns_wire2pkt(&pkt, out_.data(), n), LDNS_STATUS_OK);
  DnsReply r(pkt, n);
  EXPECT_EQ(r.AnswerRdata(LDNS_RR_TYPE_A).size(), 3u);
  EXPECT_FALSE(r.tc());
}

TEST_F(ResponderTest, SameTargetGetsOneAdditionalRecordWhateverTheRotation) {
  Catalog c;
  NodeState n = MakeNode("n1", "10.0.0.1");
  for (int i = 0; i < 4; ++i) n.services.push_back(MakeService(absl::StrCat("w", i), "w", 8000 + i));
  NodeState m = MakeNode("n2", "10.0.0.2");
  for (int i = 0; i < 3; ++i) m.services.push_back(MakeService(absl::StrCat("x", i), "w", 9000 + i));
  c.nodes = {n, m};
  snapshot_ = *catalog::BuildSnapshot(c, {});
  for (int i = 0; i < 14; ++i) {
    auto r = Ask("w.service.consul", LDNS_RR_TYPE_SRV);
    EXPECT_EQ(r->AnswerRdata(LDNS_RR_TYPE_SRV).size(), 7u);
    EXPECT_EQ(AsSet(r->AdditionalRdata(LDNS_RR_TYPE_A)),
              (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
    EXPECT_EQ(r->AdditionalRdata(LDNS_RR_TYPE_A).size(), 2u);
  }
}

TEST_F(ResponderTest, AnsweringAllocatesNothing) {
  if (!testing::AllocationCountingAvailable()) GTEST_SKIP() << "sanitizers own malloc";
  std::vector<std::string> queries;
  for (const char* name : {"web.service.consul", "v1.web.service.consul", "_web._tcp.service.consul",
                           "redis.service.dc1.consul", "nosuch.service.consul", "n1.node.consul",
                           "c000020a.addr.consul", "1.0.0.10.in-addr.arpa", "consul",
                           "service.consul", "example.com", "ns.consul", "WEB.service.dc2.dc.consul"}) {
    for (ldns_rr_type type : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_TXT,
                              LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_SOA, LDNS_RR_TYPE_NS, LDNS_RR_TYPE_PTR}) {
      queries.push_back(QueryWire(name, type, false));
      queries.push_back(QueryWire(name, type, true, 700));
    }
  }
  queries.push_back(queries[0].substr(0, 15));  // FORMERR
  uint64_t before = testing::AllocationCount();
  size_t answered = 0;
  for (int round = 0; round < 50; ++round) {
    for (const std::string& q : queries) {
      for (Transport t : {Transport::kUdp, Transport::kTcp}) {
        answered += responder_.Answer(*snapshot_, reinterpret_cast<const uint8_t*>(q.data()),
                                      q.size(), t, out_.data()) > 0;
      }
    }
  }
  EXPECT_EQ(testing::AllocationCount() - before, 0u);
  EXPECT_EQ(answered, queries.size() * 100);
}

}  // namespace
}  // namespace svcdns::server
