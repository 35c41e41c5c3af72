// --recursor: names outside our domains are forwarded (RD set, answered with
// RA), the next recursor is tried when one does not answer, and our own
// names never wait on a recursor.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "gtest/gtest.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

TEST(RecursorTest, ForwardsOtherNamesAndFailsOver) {
  // The "recursor": another svcdns, authoritative for example.test.
  auto upstream = ServerProcess::Start({"--domain", "example.test", "--catalog",
                                        SourceDir() + "/deploy/examples/catalog.json"});
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  // A recursor that never answers comes first: a UDP port nobody reads.
  int dead = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(dead, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(dead, reinterpret_cast<sockaddr*>(&a), &len);
  std::string dead_addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  std::string live_addr = "127.0.0.1:" + std::to_string((*upstream)->port());

  auto server = ServerProcess::Start({"--config-dir", SourceDir() + "/deploy/examples/services",
                                      "--node", "demo", "--recursor", dead_addr, "--recursor",
                                      live_addr, "--recursor-timeout", "500ms"});
  ASSERT_TRUE(server.ok()) << server.status();
  QueryOptions slow;
  slow.timeout_ms = 6000;
  auto started = std::chrono::steady_clock::now();
  auto r = Query("127.0.0.1", (*server)->port(), "web.service.example.test", LDNS_RR_TYPE_A, slow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE((*r)->ra());
  EXPECT_EQ((*r)->AnswerRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.0.1.10"}));
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(400));

  // Over TCP too; and our own names answer at once, RA clear, AA set.
  QueryOptions tcp = slow;
  tcp.tcp = true;
  auto t = Query("127.0.0.1", (*server)->port(), "web.service.example.test", LDNS_RR_TYPE_A, tcp);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->AnswerRdata(LDNS_RR_TYPE_A), (std::vector<std::string>{"10.0.1.10"}));
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
