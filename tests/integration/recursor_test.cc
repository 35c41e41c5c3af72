// --recursor: names outside our domains are forwarded (RD set, answered with
// RA), the next recursor is tried when one does not answer (and asked first
// from then on), and our own names never wait on a recursor. A query over TCP is forwarded over TCP, so
// that an answer too large for UDP reaches a client that retried over TCP.
// Each forward has a source port of its own, and only the recursor's answer
// to the question asked is taken.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

#include "gtest/gtest.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

// A UDP socket on a random loopback port.
int BoundUdpSocket(sockaddr_in* address) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  address->sin_family = AF_INET;
  address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address->sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(address), sizeof(*address));
  socklen_t len = sizeof(*address);
  getsockname(fd, reinterpret_cast<sockaddr*>(address), &len);
  return fd;
}

TEST(RecursorTest, ForwardsOtherNamesAndFailsOver) {
  // The "recursor": another svcdns, authoritative for example.test.
  auto upstream = ServerProcess::Start({"--domain", "example.test", "--catalog",
                                        SourceDir() + "/deploy/examples/catalog.json"});
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  // A recursor that never answers comes first: a UDP port nobody reads,
  // and on the same port over TCP, one that takes the connection and never
  // answers. (The TCP port may be taken by another test's connection: then
  // another pair.)
  int dead = -1, mute = -1;
  sockaddr_in a{};
  for (int attempt = 0; attempt < 20 && mute < 0; ++attempt) {
    if (dead >= 0) close(dead);
    dead = BoundUdpSocket(&a);
    mute = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(mute, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(mute, 16) != 0) {
      close(mute);
      mute = -1;
    }
  }
  ASSERT_GE(mute, 0);
  std::string dead_addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  std::string live_addr = "127.0.0.1:" + std::to_string((*upstream)->port());

  auto start_server = [&] {
    return ServerProcess::Start({"--config-dir", SourceDir() + "/deploy/examples/services",
                                 "--node", "demo", "--recursor", dead_addr, "--recursor",
                                 live_addr, "--recursor-timeout", "1s"});
  };
  QueryOptions slow;
  slow.timeout_ms = 6000;
  QueryOptions tcp = slow;
  tcp.tcp = true;
  // Asks for web.service.example.test; true if it came back right.
  auto ask = [&](const ServerProcess& server, const QueryOptions& options) {
    auto r = Query("127.0.0.1", server.port(), "web.service.example.test", LDNS_RR_TYPE_A, options);
    return r.ok() && (*r)->rcode() == LDNS_RCODE_NOERROR && (*r)->ra() &&
           (*r)->AnswerRdata(LDNS_RR_TYPE_A) == std::vector<std::string>{"10.0.1.10"};
  };
  using std::chrono::milliseconds;
  auto since = [](std::chrono::steady_clock::time_point t) { return std::chrono::steady_clock::now() - t; };

  // The first forward waits out the silent recursor; the next ones go to
  // the one that answered, over UDP and TCP alike.
  auto server = start_server();
  ASSERT_TRUE(server.ok()) << server.status();
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(ask(**server, slow));
  EXPECT_GE(since(started), milliseconds(900));
  started = std::chrono::steady_clock::now();
  EXPECT_TRUE(ask(**server, slow));
  EXPECT_TRUE(ask(**server, tcp));
  EXPECT_LT(since(started), milliseconds(900));

  // Over TCP the first forward waits out the recursor that takes the
  // connection and never answers.
  {
    auto fresh = start_server();
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    started = std::chrono::steady_clock::now();
    EXPECT_TRUE(ask(**fresh, tcp));
    EXPECT_GE(since(started), milliseconds(900));
    started = std::chrono::steady_clock::now();
    EXPECT_TRUE(ask(**fresh, tcp));
    EXPECT_LT(since(started), milliseconds(900));
  }

  // Our own names answer at once, RA clear, AA set.
  auto own = Query("127.0.0.1", (*server)->port(), "web.service.consul", LDNS_RR_TYPE_A);
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE((*own)->aa());
  EXPECT_FALSE((*own)->ra());

  // With every recursor gone: SERVFAIL, not silence.
  (*upstream)->Stop();
  auto failed = Query("127.0.0.1", (*server)->port(), "other.example.test", LDNS_RR_TYPE_A, slow);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ((*failed)->rcode(), LDNS_RCODE_SERVFAIL);
  close(dead);
  close(mute);
}

TEST(RecursorTest, LargeAnswersComeWholeOverTcp) {
  // The recursor serves "big" with 200 instances: far more than 512 bytes.
  std::vector<std::string> nodes;
  for (int i = 0; i < 200; ++i) {
    nodes.push_back(absl::StrFormat(
        R"({"node": {"name": "n%d", "address": "10.9.0.%d"},)"
        R"( "services": [{"id": "big-%d", "name": "big", "port": %d}]})",
        i, 1 + i, i, 20000 + i));
  }
  TempDir dir;
  std::string catalog = dir.Write(
      "catalog.json", absl::StrCat(R"({"index": 1, "nodes": [)", absl::StrJoin(nodes, ","), "]}"));
  auto upstream = ServerProcess::Start({"--domain", "example.test", "--catalog", catalog});
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  auto server = ServerProcess::Start(
      {"--config-dir", SourceDir() + "/deploy/examples/services", "--node", "demo", "--recursor",
       "127.0.0.1:" + std::to_string((*upstream)->port())});
  ASSERT_TRUE(server.ok()) << server.status();

  // Over UDP the recursor's truncated answer comes back as it is, TC set:
  // that is what sends the client to TCP.
  auto udp = Query("127.0.0.1", (*server)->port(), "big.service.example.test", LDNS_RR_TYPE_SRV);
  ASSERT_TRUE(udp.ok()) << udp.status();
  EXPECT_TRUE((*udp)->tc());
  EXPECT_TRUE((*udp)->ra());

  // Over TCP, asked of the recursor over TCP: every instance, no TC (each
  // time on a connection of its own to the recursor).
  QueryOptions tcp;
  tcp.tcp = true;
  tcp.timeout_ms = 5000;
  for (int round = 0; round < 3; ++round) {
    auto r = Query("127.0.0.1", (*server)->port(), "big.service.example.test", LDNS_RR_TYPE_SRV, tcp);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_FALSE((*r)->tc());
    EXPECT_TRUE((*r)->ra());
    std::vector<std::string> srv = (*r)->AnswerRdata(LDNS_RR_TYPE_SRV);
    std::set<std::string> distinct(srv.begin(), srv.end());
    EXPECT_EQ(distinct.size(), 200u);
    EXPECT_TRUE(distinct.count("1 1 20199 n199.node.dc1.example.test."));
  }

  // A recursor that refuses TCP connections is failed over like one that
  // does not answer: with no other, SERVFAIL at once.
  (*upstream)->Stop();
  auto failed = Query("127.0.0.1", (*server)->port(), "big.service.example.test", LDNS_RR_TYPE_SRV, tcp);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ((*failed)->rcode(), LDNS_RCODE_SERVFAIL);
}

// A reply to `query` (id, question) with one A record.
std::string ReplyTo(const std::string& query, const uint8_t (&ip)[4]) {
  size_t end = 12;
  while (end < query.size() && query[end] != 0) end += 1 + static_cast<uint8_t>(query[end]);
  end += 5;  // the root label, type, class
  std::string reply = query.substr(0, end);
  const char header[] = {'\x81', '\x80', 0, 1, 0, 1, 0, 0, 0, 0};
  reply.replace(2, sizeof(header), header, sizeof(header));
  const char record[] = {'\xc0', 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
  reply.append(record, sizeof(record));
  reply.append(reinterpret_cast<const char*>(ip), 4);
  return reply;
}

TEST(RecursorTest, OnlyTheRecursorsAnswerToTheQuestionIsTaken) {
  sockaddr_in recursor{}, elsewhere{};
  int fd = BoundUdpSocket(&recursor);
  int forger = BoundUdpSocket(&elsewhere);
  auto server = ServerProcess::Start(
      {"--config-dir", SourceDir() + "/deploy/examples/services", "--node", "demo", "--recursor",
       "127.0.0.1:" + std::to_string(ntohs(recursor.sin_port))});
  ASSERT_TRUE(server.ok()) << server.status();

  // The recursor: for each query, first a reply to another question, then
  // one to this question from another port (what an off-path forger would
  // send), then the true answer.
  std::vector<uint16_t> source_ports;
  std::thread recursor_thread([&] {
    for (int round = 0; round < 3; ++round) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 5000) != 1) return;
      char buffer[512];
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      ssize_t n = recvfrom(fd, buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 12) return;
      source_ports.push_back(ntohs(from.sin_port));
      std::string query(buffer, static_cast<size_t>(n));
      auto send = [&](int socket, const std::string& reply) {
        sendto(socket, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
      };
      std::string other = query;
      other[13] = other[13] == 'x' ? 'y' : 'x';  // the name's first letter
      send(fd, ReplyTo(other, {6, 6, 6, 1}));
      send(forger, ReplyTo(query, {6, 6, 6, 2}));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      send(fd, ReplyTo(query, {10, 1, 2, 3}));
    }
  });
  for (int round = 0; round < 3; ++round) {
    auto r = Query("127.0.0.1", (*server)->port(), "www.example.test", LDNS_RR_TYPE_A);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_TRUE((*r)->ra());
    EXPECT_EQ((*r)->AnswerRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.1.2.3"}));
  }
  recursor_thread.join();
  ASSERT_EQ(source_ports.size(), 3u);
  EXPECT_FALSE(source_ports[0] == source_ports[1] && source_ports[1] == source_ports[2]);
  close(fd);
  close(forger);
}

TEST(RecursorTest, WithoutRecursorsOtherNamesAreRefusedAtOnce) {
  auto server = ServerProcess::Start({"--config-dir", SourceDir() + "/deploy/examples/services",
                                      "--node", "demo"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto r = Query("127.0.0.1", (*server)->port(), "www.example.test", LDNS_RR_TYPE_A);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->rcode(), LDNS_RCODE_REFUSED);
}

}  // namespace
}  // namespace svcdns::testing
