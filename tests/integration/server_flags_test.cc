// Flags that shape answers (--alt-domain, TTLs, SOA timers, --dns-addr on
// IPv6), signals right after start, TCP half-close and back-pressure.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstdio>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

extern char** environ;

namespace svcdns::testing::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// The TTL field of "owner\tttl\tclass\ttype\trdata".
uint32_t Ttl(const std::string& rr) {
  std::vector<std::string> f = absl::StrSplit(rr, '\t', absl::SkipEmpty());
  uint32_t ttl = 0;
  if (f.size() < 2 || !absl::SimpleAtoi(f[1], &ttl)) return 0xFFFFFFFF;
  return ttl;
}

TEST(ServerFlagsTest, AltDomainAndTtls) {
  SVCDNS_START_SERVER(server, {"--config-dir", ExampleServicesDir(), "--node", "demo",
                               "--alt-domain", "svc.example", "--service-ttl", "web*=30s",
                               "--service-ttl", "*=5s", "--node-ttl", "7s", "--soa-min-ttl",
                               "3s", "--soa-refresh", "2h"});
  uint16_t port = server->port();
  {
    // SRV targets are in the domain that was asked.
    SVCDNS_QUERY(r, port, "web.service.svc.example", LDNS_RR_TYPE_SRV);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_TRUE(r->aa());
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV),
                UnorderedElementsAre("1 1 8080 demo.node.dc1.svc.example.",
                                     "1 1 9080 demo.node.dc1.svc.example."));
    ASSERT_THAT(r->Additional(), SizeIs(1));
    EXPECT_THAT(r->Additional()[0], StartsWith("demo.node.dc1.svc.example."));
    for (const std::string& rr : r->Answer()) EXPECT_EQ(Ttl(rr), 30u) << rr;
  }
  {
    SVCDNS_QUERY(r, port, "web.service.consul", LDNS_RR_TYPE_SRV);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV),
                UnorderedElementsAre("1 1 8080 demo.node.dc1.consul.",
                                     "1 1 9080 demo.node.dc1.consul."));
  }
  {
    SVCDNS_QUERY(r, port, "praefect.service.consul", LDNS_RR_TYPE_A);
    ASSERT_THAT(r->Answer(), SizeIs(1));
    EXPECT_EQ(Ttl(r->Answer()[0]), 5u);
  }
  {
    SVCDNS_QUERY(r, port, "demo.node.svc.example", LDNS_RR_TYPE_A);
    ASSERT_THAT(r->Answer(), SizeIs(1));
    EXPECT_EQ(Ttl(r->Answer()[0]), 7u);
  }
  {
    SVCDNS_QUERY(r, port, "nosuch.service.svc.example", LDNS_RR_TYPE_A);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NXDOMAIN);
    ASSERT_THAT(r->Authority(), SizeIs(1));
    EXPECT_THAT(r->Authority()[0], StartsWith("svc.example.\t3\tIN\tSOA\tns.svc.example. "
                                              "hostmaster.svc.example. "));
    EXPECT_THAT(r->Authority()[0], HasSubstr(" 7200 600 86400 3"));
  }
  {
    SVCDNS_QUERY(r, port, "svc.example", LDNS_RR_TYPE_NS);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_NS), ElementsAre("ns.svc.example."));
    EXPECT_THAT(r->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));
  }
  {
    SVCDNS_QUERY(r, port, "example", LDNS_RR_TYPE_SOA);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_REFUSED);
  }
}

TEST(ServerFlagsTest, Ipv6Listener) {
  SVCDNS_START_SERVER(server, {"--dns-addr", "[::1]:0", "--config-dir", ExampleServicesDir(),
                               "--node", "demo"});
  std::string log = server->Log();
  size_t at = log.find("[::1]:");
  if (at == std::string::npos) GTEST_SKIP() << "no [::1] listener in the log: " << log;
  uint32_t port = 0;
  size_t start = at + 6;
  size_t end = log.find_first_not_of("0123456789", start);
  ASSERT_TRUE(absl::SimpleAtoi(log.substr(start, end - start), &port)) << log;
  for (bool tcp : {false, true}) {
    QueryOptions options;
    options.tcp = tcp;
    auto r = Query("::1", static_cast<uint16_t>(port), "web.service.consul", LDNS_RR_TYPE_SRV,
                   options);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_THAT((*r)->AnswerRdata(LDNS_RR_TYPE_SRV), SizeIs(2));
  }
}

// Spawns `svcdns serve` with stderr on a pipe and sends `signum` the moment
// the "event=listening" line is read (the harness polls its log file every
// 20 ms, which hides the window). Returns the pid (-1 on failure); *log gets
// what was read so far, and `read_fd` stays open for more.
pid_t SpawnAndSignalWhenListening(int signum, std::string* log, int* read_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  std::vector<std::string> args = {SVCDNS_BINARY, "serve", "--dns-addr", "127.0.0.1:0",
                                   "--ingest-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
                                   "--workers", "2", "--config-dir", ExampleServicesDir(),
                                   "--node", "demo"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  pid_t pid = -1;
  if (posix_spawn(&pid, SVCDNS_BINARY, &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  *read_fd = fds[0];
  if (pid < 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log->find("event=listening") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    log->append(buf, n);
  }
  if (log->find("event=listening") != std::string::npos) kill(pid, signum);
  return pid;
}

// Reads what the child writes for `ms` milliseconds.
void Drain(int fd, int ms, std::string* log) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) != 1) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    log->append(buf, n);
  }
}

int WaitStatus(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  return -1;
}

TEST(ServerFlagsTest, SighupRightAfterStartReloads) {
  int killed = 0;
  for (int i = 0; i < 20; ++i) {
    std::string log;
    int fd = -1;
    pid_t pid = SpawnAndSignalWhenListening(SIGHUP, &log, &fd);
    ASSERT_GT(pid, 0);
    Drain(fd, 100, &log);
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ++killed;
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP) << status;
    } else {
      kill(pid, SIGTERM);
      WaitStatus(pid, 5000);
    }
    close(fd);
  }
  EXPECT_EQ(killed, 0) << "an early SIGHUP killed the server " << killed << " times of 20";
}

TEST(ServerFlagsTest, SigtermRightAfterStartExitsCleanly) {
  int killed = 0;
  for (int i = 0; i < 10; ++i) {
    std::string log;
    int fd = -1;
    pid_t pid = SpawnAndSignalWhenListening(SIGTERM, &log, &fd);
    ASSERT_GT(pid, 0);
    Drain(fd, 50, &log);
    int status = WaitStatus(pid, 5000);
    close(fd);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) ++killed;
  }
  EXPECT_EQ(killed, 0) << "an early SIGTERM did not give exit 0 " << killed << " times of 10";
}

// --dns-addr 127.0.0.1:0 binds UDP to a kernel-chosen port, then TCP to the
// same number without checking it is free for TCP. With many TCP ports of the
// ephemeral range taken (client connections do that), starts fail.
TEST(ServerFlagsTest, PortZeroFindsAPortFreeForBothUdpAndTcp) {
  std::vector<int> taken;
  for (int port = 32768; port < 61000 && taken.size() < 15000; ++port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      taken.push_back(fd);
    } else {
      close(fd);
    }
  }
  int failed = 0;
  std::string last;
  for (int i = 0; i < 8; ++i) {
    auto started = ServerProcess::Start({"--config-dir", ExampleServicesDir(), "--node", "demo"});
    if (!started.ok()) {
      ++failed;
      last = started.status().ToString();
    }
  }
  for (int fd : taken) close(fd);
  EXPECT_EQ(failed, 0) << failed << " of 8 starts failed with " << taken.size()
                       << " TCP ports taken; last: " << last;
}

TEST(TcpTest, HalfClosedPipelineIsAnsweredThenClosed) {
  SVCDNS_START_SERVER(server, {"--config-dir", ExampleServicesDir(), "--node", "demo"});
  TcpConn conn(server->port());
  ASSERT_TRUE(conn.ok());
  std::string all;
  for (uint16_t id = 1; id <= 5; ++id) {
    all += TcpConn::Frame(QueryWire(id % 2 ? "web.service.consul" : "consul",
                                    id % 2 ? LDNS_RR_TYPE_SRV : LDNS_RR_TYPE_SOA, false, 1232, id));
  }
  ASSERT_TRUE(conn.Send(all));
  ASSERT_EQ(shutdown(conn.fd(), SHUT_WR), 0);
  for (uint16_t id = 1; id <= 5; ++id) {
    auto r = Parse(conn.ReadMessage(2000));
    ASSERT_NE(r, nullptr) << "id " << id;
    EXPECT_EQ(r->id(), id);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  }
  EXPECT_TRUE(conn.WaitClosed(2000));
}

// A catalog of `n` instances of "big" on distinct nodes n<i> at 10.1.<i/250>.<1+i%250>.
std::string BigCatalog(int n) {
  std::vector<std::string> nodes;
  for (int i = 0; i < n; ++i) {
    nodes.push_back(absl::StrFormat(
        R"({"node": {"name": "n%d", "address": "10.1.%d.%d"},)"
        R"( "services": [{"id": "big-%d", "name": "big", "port": %d}]})",
        i, i / 250, 1 + i % 250, i, 20000 + i));
  }
  return absl::StrCat(R"({"nodes": [)", absl::StrJoin(nodes, ",\n"), "]}");
}

// Each additional record belongs to a target of the answer, with that node's address.
void ExpectAdditionalMatchesTargets(const DnsReply& r) {
  std::set<std::string> targets;
  for (const std::string& srv : r.AnswerRdata(LDNS_RR_TYPE_SRV)) {
    targets.insert(srv.substr(srv.rfind(' ') + 1));
  }
  const ldns_rr_list* extra = ldns_pkt_additional(r.pkt());
  std::set<std::string> owners;
  for (size_t i = 0; i < ldns_rr_list_rr_count(extra); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(extra, i);
    char* owner_c = ldns_rdf2str(ldns_rr_owner(rr));
    std::string owner(owner_c);
    free(owner_c);
    char* addr_c = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    std::string addr(addr_c);
    free(addr_c);
    EXPECT_TRUE(targets.count(owner)) << owner << " is no target of the answer";
    EXPECT_TRUE(owners.insert(owner).second) << owner << " twice in the additional section";
    int i_node = -1;
    ASSERT_EQ(sscanf(owner.c_str(), "n%d.node.dc1.consul.", &i_node), 1) << owner;
    EXPECT_EQ(addr, absl::StrFormat("10.1.%d.%d", i_node / 250, 1 + i_node % 250)) << owner;
  }
}

TEST(TcpTest, BigAnswersCarryTheRightAdditionalRecords) {
  TempDir dir;
  SVCDNS_START_SERVER(server, {"--catalog", dir.Write("catalog.json", BigCatalog(1000))});
  // Over TCP: past 16 KiB the additional owners can no longer be pointers.
  for (int i = 0; i < 3; ++i) {
    QueryOptions tcp;
    tcp.tcp = true;
    tcp.timeout_ms = 5000;
    SVCDNS_QUERY(r, server->port(), "big.service.consul", LDNS_RR_TYPE_SRV, tcp);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV), SizeIs(1000));
    EXPECT_GT(r->AdditionalRdata(LDNS_RR_TYPE_A).size(), 400u);
    ExpectAdditionalMatchesTargets(*r);
  }
  // Over UDP, truncated.
  for (int i = 0; i < 3; ++i) {
    QueryOptions edns;
    edns.edns = true;
    SVCDNS_QUERY(r, server->port(), "big.service.consul", LDNS_RR_TYPE_SRV, edns);
    EXPECT_TRUE(r->tc());
    ExpectAdditionalMatchesTargets(*r);
    SVCDNS_QUERY(plain, server->port(), "big.service.consul", LDNS_RR_TYPE_SRV);
    EXPECT_TRUE(plain->tc());
    ExpectAdditionalMatchesTargets(*plain);
  }
}

TEST(TcpTest, PipelinedBigAnswersWithASlowReader) {
  TempDir dir;
  SVCDNS_START_SERVER(server, {"--catalog", dir.Write("catalog.json", BigCatalog(1000))});
  TcpConn conn(server->port());
  ASSERT_TRUE(conn.ok());
  // ~40 x 60 KB of answers: more than the server buffers for one client.
  constexpr int kQueries = 40;
  std::string all;
  for (int i = 0; i < kQueries; ++i) {
    all += TcpConn::Frame(
        QueryWire("big.service.consul", LDNS_RR_TYPE_SRV, false, 1232, static_cast<uint16_t>(i)));
  }
  ASSERT_TRUE(conn.Send(all));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // not reading yet
  for (int i = 0; i < kQueries; ++i) {
    auto r = Parse(conn.ReadMessage(5000));
    ASSERT_NE(r, nullptr) << "answer " << i;
    EXPECT_EQ(r->id(), i);
    EXPECT_EQ(AnswerCount(*r), 1000u);
  }
  // The connection still works.
  ASSERT_TRUE(conn.Send(TcpConn::Frame(QueryWire("consul", LDNS_RR_TYPE_SOA, false, 1232, 999))));
  auto r = Parse(conn.ReadMessage(2000));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->id(), 999);
}

}  // namespace
}  // namespace svcdns::testing::integration
