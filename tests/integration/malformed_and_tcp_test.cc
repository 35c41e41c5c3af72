// Damaged queries over UDP, and DNS over TCP framing: pipelining, idle
// connections, partial messages.
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

namespace svcdns::testing::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr int kNoAnswerWaitMs = 300;

std::string Header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an = 0, uint16_t ns = 0,
                   uint16_t ar = 0) {
  std::string h;
  for (uint16_t v : {id, flags, qd, an, ns, ar}) {
    h.push_back(static_cast<char>(v >> 8));
    h.push_back(static_cast<char>(v));
  }
  return h;
}

absl::StatusOr<std::string> SendUdp(uint16_t port, const std::string& packet, int timeout_ms) {
  QueryOptions options;
  options.timeout_ms = timeout_ms;
  return Exchange("127.0.0.1", port, packet, options);
}

void ExpectStillServing(uint16_t port) {
  SVCDNS_QUERY(r, port, "web.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV),
              UnorderedElementsAre("1 1 8080 demo.node.dc1.consul.",
                                   "1 1 9080 demo.node.dc1.consul."));
}

// An SRV query for web.service.consul, EDNS-padded (RFC 7830) to `size`
// bytes in all.
std::string PaddedQuery(uint16_t id, size_t size) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_SRV, true, 1232, id);
  // The OPT record ends the packet, with no options: give it one.
  size_t padding = size - wire.size() - 4;
  size_t rdlength = 4 + padding;
  wire[wire.size() - 2] = static_cast<char>(rdlength >> 8);
  wire[wire.size() - 1] = static_cast<char>(rdlength);
  wire += std::string{0, 12, static_cast<char>(padding >> 8), static_cast<char>(padding)};
  wire += std::string(padding, '\0');
  return wire;
}

class MalformedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = ServerProcess::Start({"--config-dir", ExampleServicesDir(), "--node", "demo"});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
  }
  std::unique_ptr<ServerProcess> server_;
};

// A UDP query is read into 4 KiB: a longer one cannot be read whole, and
// is answered FORMERR, even when its first 4 KiB would parse. One under
// that, padded, is answered.
TEST_F(MalformedTest, OversizedUdpQueriesAreAnsweredFormerr) {
  uint16_t port = server_->port();
  {
    auto raw = SendUdp(port, PaddedQuery(0x6006, 3000), 2000);
    ASSERT_TRUE(raw.ok()) << raw.status();
    ASSERT_GE(raw->size(), 12u) << "no answer to a 3000-byte query";
    EXPECT_EQ(RawId(*raw), 0x6006);
    auto parsed = Parse(*raw);
    ASSERT_NE(parsed, nullptr);
    EXPECT_EQ(parsed->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_EQ(parsed->AnswerRdata(LDNS_RR_TYPE_SRV).size(), 2u);
  }
  for (size_t size : {4097, 5000, 65000}) {
    auto raw = SendUdp(port, PaddedQuery(0x6007, size), 2000);
    ASSERT_TRUE(raw.ok()) << raw.status();
    ASSERT_GE(raw->size(), 12u) << "no answer to a " << size << "-byte query";
    EXPECT_EQ(RawId(*raw), 0x6007);
    EXPECT_TRUE(RawQr(*raw));
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_FORMERR) << size << " bytes";
  }
  {
    std::string whole = QueryWire("web.service.consul", LDNS_RR_TYPE_SRV, false, 1232, 0x6008);
    auto raw = SendUdp(port, whole + std::string(5000 - whole.size(), 'x'), 2000);
    ASSERT_TRUE(raw.ok()) << raw.status();
    ASSERT_GE(raw->size(), 12u) << "no answer to a query followed by junk";
    EXPECT_EQ(RawId(*raw), 0x6008);
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_FORMERR);
  }
  ExpectStillServing(port);
}

TEST_F(MalformedTest, UdpDamagedQueries) {
  uint16_t port = server_->port();

  // Header only, but one question announced: FORMERR, same id.
  {
    auto raw = SendUdp(port, Header(0xABCD, 0x0100, 1), 2000);
    ASSERT_TRUE(raw.ok()) << raw.status();
    ASSERT_GE(raw->size(), 12u) << "no answer to a truncated query";
    EXPECT_EQ(RawId(*raw), 0xABCD);
    EXPECT_TRUE(RawQr(*raw));
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_FORMERR);
    auto parsed = Parse(*raw);
    ASSERT_NE(parsed, nullptr);
    EXPECT_EQ(parsed->rcode(), LDNS_RCODE_FORMERR);
  }
  // A question cut in the middle of its name, and one without its type/class.
  {
    std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A, false, 1232, 0x2001);
    auto raw = SendUdp(port, wire.substr(0, 12 + 6), 2000);
    ASSERT_TRUE(raw.ok());
    ASSERT_GE(raw->size(), 12u);
    EXPECT_EQ(RawId(*raw), 0x2001);
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_FORMERR);
    raw = SendUdp(port, wire.substr(0, wire.size() - 2), 2000);
    ASSERT_TRUE(raw.ok());
    ASSERT_GE(raw->size(), 12u);
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_FORMERR);
  }
  // Two questions: FORMERR.
  {
    std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A, false, 1232, 0x2002);
    wire[5] = 2;
    auto raw = SendUdp(port, wire, 2000);
    ASSERT_TRUE(raw.ok());
    ASSERT_GE(raw->size(), 12u);
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_FORMERR);
  }
  // Too short for a header: dropped.
  {
    auto raw = SendUdp(port, std::string("\x12\x34\x01\x00\x00", 5), kNoAnswerWaitMs);
    ASSERT_TRUE(raw.ok());
    EXPECT_TRUE(raw->empty()) << "answered a 5-byte packet";
  }
  // An empty datagram: dropped.
  {
    auto raw = SendUdp(port, std::string(), kNoAnswerWaitMs);
    ASSERT_TRUE(raw.ok());
    EXPECT_TRUE(raw->empty());
  }
  // QR set (a response, perhaps reflected): never answered.
  {
    std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_SRV, false, 1232, 0x3003);
    wire[2] = static_cast<char>(wire[2] | 0x80);
    auto raw = SendUdp(port, wire, kNoAnswerWaitMs);
    ASSERT_TRUE(raw.ok());
    EXPECT_TRUE(raw->empty()) << "answered a packet with QR set";
  }
  // UPDATE (opcode 5): NOTIMP, opcode echoed.
  {
    std::string wire = QueryWire("consul", LDNS_RR_TYPE_SOA, false, 1232, 0x4004);
    wire[2] = static_cast<char>(5 << 3);
    auto raw = SendUdp(port, wire, 2000);
    ASSERT_TRUE(raw.ok());
    ASSERT_GE(raw->size(), 12u);
    EXPECT_EQ(RawId(*raw), 0x4004);
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_NOTIMPL);
    EXPECT_EQ(RawOpcode(*raw), 5);
    auto parsed = Parse(*raw);
    ASSERT_NE(parsed, nullptr);
    EXPECT_FALSE(parsed->aa());
  }
  // NOTIFY (opcode 4) and STATUS (2): NOTIMP.
  for (int opcode : {2, 4}) {
    std::string wire = QueryWire("consul", LDNS_RR_TYPE_SOA, false, 1232, 0x4005);
    wire[2] = static_cast<char>(opcode << 3);
    auto raw = SendUdp(port, wire, 2000);
    ASSERT_TRUE(raw.ok());
    ASSERT_GE(raw->size(), 12u) << "opcode " << opcode;
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_NOTIMPL) << "opcode " << opcode;
  }
  // A compression pointer in the question name: FORMERR.
  {
    std::string wire = Header(0x5005, 0x0100, 1) + std::string("\xC0\x0C\x00\x01\x00\x01", 6);
    auto raw = SendUdp(port, wire, 2000);
    ASSERT_TRUE(raw.ok());
    ASSERT_GE(raw->size(), 12u);
    EXPECT_EQ(RawRcode(*raw), LDNS_RCODE_FORMERR);
  }
  // EDNS version 1: BADVERS (extended rcode 16: 1 in the OPT, 0 in the header).
  {
    std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A, true, 1232, 0x6006);
    // The OPT is last: root(1) type(2) class(2) ext-rcode(1) version(1) flags(2) rdlen(2).
    size_t opt = wire.size() - 11;
    ASSERT_EQ(wire[opt], 0);
    ASSERT_EQ(static_cast<uint8_t>(wire[opt + 2]), 41);
    wire[opt + 6] = 1;
    auto raw = SendUdp(port, wire, 2000);
    ASSERT_TRUE(raw.ok());
    ASSERT_GE(raw->size(), 12u);
    auto parsed = Parse(*raw);
    ASSERT_NE(parsed, nullptr);
    EXPECT_TRUE(parsed->has_edns());
    EXPECT_EQ(ldns_pkt_edns_extended_rcode(parsed->pkt()), 1);
    EXPECT_EQ(RawRcode(*raw), 0);
  }
  // Random garbage of various sizes: the server stays up.
  for (size_t size : {12, 13, 17, 64, 300, 512, 1500}) {
    std::string junk(size, '\0');
    for (size_t i = 0; i < size; ++i) junk[i] = static_cast<char>((i * 131 + size * 7) & 0xFF);
    junk[2] &= 0x7F;  // not QR, so it might be answered
    (void)SendUdp(port, junk, 50);
  }
  ExpectStillServing(port);
}

TEST_F(MalformedTest, TcpPipelinedQueriesAreAnsweredInOrder) {
  TcpConn conn(server_->port());
  ASSERT_TRUE(conn.ok());
  struct Q {
    const char* name;
    ldns_rr_type type;
    uint16_t id;
    int rcode;
  };
  const Q queries[] = {
      {"web.service.consul", LDNS_RR_TYPE_SRV, 101, LDNS_RCODE_NOERROR},
      {"praefect.service.consul", LDNS_RR_TYPE_A, 102, LDNS_RCODE_NOERROR},
      {"nosuch.service.consul", LDNS_RR_TYPE_A, 103, LDNS_RCODE_NXDOMAIN},
      {"consul", LDNS_RR_TYPE_SOA, 104, LDNS_RCODE_NOERROR},
      {"example.com", LDNS_RR_TYPE_A, 105, LDNS_RCODE_REFUSED},
      {"redis.service.consul", LDNS_RR_TYPE_SRV, 106, LDNS_RCODE_NOERROR},
      {"demo.node.consul", LDNS_RR_TYPE_A, 107, LDNS_RCODE_NOERROR},
  };
  std::string all;
  for (const Q& q : queries) all += TcpConn::Frame(QueryWire(q.name, q.type, false, 1232, q.id));
  ASSERT_TRUE(conn.Send(all));
  for (const Q& q : queries) {
    std::string raw = conn.ReadMessage(2000);
    ASSERT_FALSE(raw.empty()) << "no answer for id " << q.id;
    auto parsed = Parse(raw);
    ASSERT_NE(parsed, nullptr);
    EXPECT_EQ(parsed->id(), q.id);
    EXPECT_EQ(parsed->rcode(), q.rcode) << q.name;
    EXPECT_EQ(parsed->QuestionName(), std::string(q.name) + ".");
  }

  // The same connection takes more, also split across writes at odd places.
  std::string next = TcpConn::Frame(QueryWire("web.service.consul", LDNS_RR_TYPE_A, false, 1232, 201)) +
                     TcpConn::Frame(QueryWire("v1.web.service.consul", LDNS_RR_TYPE_SRV, false, 1232, 202));
  for (size_t cut : {1, 2, 9, 30}) {
    ASSERT_TRUE(conn.Send(next.substr(0, cut)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(conn.Send(next.substr(cut)));
    std::string first = conn.ReadMessage(2000);
    std::string second = conn.ReadMessage(2000);
    auto a = Parse(first);
    auto b = Parse(second);
    ASSERT_NE(a, nullptr) << "cut at " << cut;
    ASSERT_NE(b, nullptr) << "cut at " << cut;
    EXPECT_EQ(a->id(), 201);
    EXPECT_THAT(a->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));
    EXPECT_EQ(b->id(), 202);
    EXPECT_THAT(b->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 8080 demo.node.dc1.consul."));
  }
}

TEST_F(MalformedTest, TcpMalformedMessagesGetFormErrAndTheConnectionGoesOn) {
  TcpConn conn(server_->port());
  ASSERT_TRUE(conn.ok());
  std::string damaged = Header(0x0777, 0x0100, 1);
  ASSERT_TRUE(conn.Send(TcpConn::Frame(damaged) +
                        TcpConn::Frame(QueryWire("praefect.service.consul", LDNS_RR_TYPE_A, false,
                                                 1232, 0x0778))));
  std::string first = conn.ReadMessage(2000);
  ASSERT_GE(first.size(), 12u);
  EXPECT_EQ(RawId(first), 0x0777);
  EXPECT_EQ(RawRcode(first), LDNS_RCODE_FORMERR);
  auto second = Parse(conn.ReadMessage(2000));
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->id(), 0x0778);
  EXPECT_THAT(second->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));
}

TEST(TcpIdleTest, HalfALengthPrefixIsClosedAfterTheIdleTimeout) {
  SVCDNS_START_SERVER(server, {"--config-dir", ExampleServicesDir(), "--node", "demo",
                               "--tcp-idle-timeout", "1s"});
  TcpConn idle(server->port());
  ASSERT_TRUE(idle.ok());
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(idle.Send(std::string(1, '\0')));
  EXPECT_TRUE(idle.WaitClosed(4000)) << "the server kept an idle connection past 4 s";
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(elapsed, 800);
  EXPECT_LE(elapsed, 3000);

  // A connection that answered and then idles is closed too.
  TcpConn used(server->port());
  ASSERT_TRUE(used.ok());
  ASSERT_TRUE(used.Send(TcpConn::Frame(QueryWire("consul", LDNS_RR_TYPE_SOA, false, 1232, 9))));
  ASSERT_FALSE(used.ReadMessage(2000).empty());
  EXPECT_TRUE(used.WaitClosed(4000));

  // And the server still takes new connections.
  QueryOptions tcp;
  tcp.tcp = true;
  SVCDNS_QUERY(r, server->port(), "web.service.consul", LDNS_RR_TYPE_SRV, tcp);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
}

TEST(TcpLimitTest, ConnectionsOverTheLimitAreClosed) {
  // The limit is per worker and the harness runs 2 workers: with a limit of 1,
  // of 3 connections held open at least one is over its worker's limit.
  SVCDNS_START_SERVER(server, {"--config-dir", ExampleServicesDir(), "--node", "demo",
                               "--tcp-max-connections", "1"});
  std::vector<std::unique_ptr<TcpConn>> held;
  int answered = 0, closed = 0;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<TcpConn>(server->port()));
    ASSERT_TRUE(held.back()->ok());
    held.back()->Send(TcpConn::Frame(QueryWire("consul", LDNS_RR_TYPE_SOA, false, 1232, 10 + i)));
    if (held.back()->ReadMessage(1000).empty()) {
      ++closed;
    } else {
      ++answered;
    }
  }
  EXPECT_GE(answered, 1);
  EXPECT_GE(closed, 1) << "3 connections kept open with 2 workers and a limit of 1 each";
  // Freed room is usable again.
  held.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  QueryOptions tcp;
  tcp.tcp = true;
  for (int i = 0; i < 4; ++i) {
    // Time for the server to see the previous connection's end.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    SVCDNS_QUERY(r, server->port(), "consul", LDNS_RR_TYPE_SOA, tcp);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  }
}

}  // namespace
}  // namespace svcdns::testing::integration
