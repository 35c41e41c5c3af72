// svcdns in the machine's own plumbing, with the deploy/ snippets as
// shipped: the systemd units (systemd-analyze verify, Type=notify and the
// ExecStart lines run as written), port 53 as an unprivileged user with only
// CAP_NET_BIND_SERVICE, glibc's stub resolver with deploy/resolv.conf,
// systemd-resolved with deploy/systemd-resolved, and Prometheus discovering
// exporters by SRV (deploy/prometheus).
// Port 53 tests run in a network namespace of their own (`ip netns`), with
// /etc/netns/<ns>/resolv.conf standing for /etc/resolv.conf; they need root
// and are skipped without it. Every process is stopped by PID, and the
// namespace and its /etc/netns folder are removed even when a test fails.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/integrations_util.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

using integrations::AdaptSnippet;
using integrations::ChildProcess;
using integrations::FindProgram;
using integrations::NetNamespace;
using integrations::NetnsUnavailable;
using integrations::RunShell;
using integrations::WaitUntil;
using Strings = std::vector<std::string>;

std::string ExampleCatalog() { return SourceDir() + "/deploy/examples/catalog.json"; }
std::string ExampleServices() { return SourceDir() + "/deploy/examples/services"; }

// A datagram socket standing for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof(a.sun_path)) return;
    std::copy(path.begin(), path.end(), a.sun_path);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // Reads messages until one contains `text` (true) or `timeout_ms` passed;
  // every message read is appended to *seen.
  bool WaitFor(const std::string& text, int timeout_ms, std::string* seen) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left) != 1) return false;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      std::string message(buf, n);
      *seen += message + "\n--\n";
      if (absl::StrContains(message, text)) return true;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// The ExecStart= line of a unit as systemd would run it: `replacements`
// (variables and paths) applied, then split on spaces.
Strings ExecStart(const std::string& unit_text,
                  const std::vector<std::pair<std::string, std::string>>& replacements) {
  for (absl::string_view line : absl::StrSplit(unit_text, '\n')) {
    if (!absl::StartsWith(line, "ExecStart=")) continue;
    line.remove_prefix(std::string("ExecStart=").size());
    std::string command = absl::StrReplaceAll(line, replacements);
    return absl::StrSplit(command, ' ', absl::SkipEmpty());
  }
  return {};
}

// The port after `key` (e.g. " ingest=127.0.0.1:") in a log, or 0.
int PortAfter(const std::string& log, const std::string& key) {
  size_t at = log.find(key);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + key.size());
}

// 1a. systemd-analyze verify accepts both units (with ExecStart pointing at
// the built binary: verify checks that the program exists), without a
// single warning.
TEST(SystemIntegrationsTest, SystemdAnalyzeVerifiesTheUnits) {
  std::string analyze = FindProgram({"/usr/bin/systemd-analyze", "/bin/systemd-analyze"});
  if (analyze.empty()) GTEST_SKIP() << "systemd-analyze is not installed (package systemd)";
  TempDir dir;
  Strings paths;
  for (const char* unit : {"svcdns.service", "svcdns-agent.service"}) {
    std::string text = AdaptSnippet(absl::StrCat("deploy/systemd/", unit),
                                    {{"/usr/local/bin/svcdns", SVCDNS_BINARY}});
    ASSERT_FALSE(text.empty()) << unit << " no longer runs /usr/local/bin/svcdns";
    paths.push_back(dir.Write(unit, text));
  }
  int code = -1;
  std::string out = RunShell(
      absl::StrCat(analyze, " verify ", absl::StrJoin(paths, " "), " 2>&1"), 25, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "") << "systemd-analyze verify warns";

  // The check has teeth here: verify reports a misspelt key and type (as
  // warnings, exit status 0: hence the empty output required above).
  std::string bad = absl::StrReplaceAll(ReadFile(paths[0]), {{"ProtectClock=", "ProtectClok="},
                                                            {"Type=notify", "Type=notifyy"}});
  std::string bad_path = dir.Write("bad.service", bad);
  out = RunShell(absl::StrCat(analyze, " verify ", bad_path, " 2>&1"), 25, &code);
  EXPECT_TRUE(absl::StrContains(out, "ProtectClok")) << out;
  EXPECT_TRUE(absl::StrContains(out, "notifyy")) << out;
}

// 1b. The units' ExecStart lines, run as systemd runs them (STATE_DIRECTORY
// and the configuration directory filled in, the settings variable holding
// test addresses), start, and both programs tell NOTIFY_SOCKET READY=1
// (Type=notify); the server reports RELOADING=1 then READY=1 on the unit's
// ExecReload (SIGHUP) and the agent joins the server.
TEST(SystemIntegrationsTest, UnitsExecStartAndNotifyReady) {
  TempDir dir;
  std::string state = dir.path() + "/state", conf = dir.path() + "/conf";
  std::string agent_state = dir.path() + "/agent-state", agent_conf = dir.path() + "/agent-conf";
  for (const std::string& d : {state, conf, agent_state, agent_conf}) {
    std::filesystem::create_directories(d);
  }
  std::filesystem::copy_file(ExampleServices() + "/web.json", agent_conf + "/web.json");

  std::string server_unit = ReadFile(SourceDir() + "/deploy/systemd/svcdns.service");
  Strings server_argv = ExecStart(
      server_unit, {{"/usr/local/bin/svcdns", SVCDNS_BINARY},
                    {"${STATE_DIRECTORY}", state},
                    {"/etc/svcdns.d", conf},
                    {"$SVCDNS_ARGS", "--dns-addr 127.0.0.1:0 --ingest-addr 127.0.0.1:0 "
                                     "--http-addr 127.0.0.1:0 --workers 1 --node srv"}});
  ASSERT_FALSE(server_argv.empty()) << "no ExecStart= in svcdns.service";
  ASSERT_EQ(server_argv[0], SVCDNS_BINARY) << "ExecStart no longer runs /usr/local/bin/svcdns";
  ASSERT_TRUE(absl::StrContains(server_unit, "Type=notify"));
  ASSERT_TRUE(absl::StrContains(server_unit, "ExecReload=/bin/kill -HUP $MAINPID"));

  NotifySocket server_notify(dir.path() + "/server.notify");
  ASSERT_TRUE(server_notify.ok());
  Strings argv = {"/usr/bin/env", "NOTIFY_SOCKET=" + server_notify.path()};
  argv.insert(argv.end(), server_argv.begin(), server_argv.end());
  ChildProcess server(argv, dir.path() + "/server.log");
  std::string seen;
  ASSERT_TRUE(server_notify.WaitFor("READY=1", 10000, &seen))
      << seen << "\nlog:\n" << server.Log();
  EXPECT_TRUE(absl::StrContains(seen, "STATUS=serving")) << seen;
  // READY=1 comes once the sockets answer: the log names them already.
  std::string log = server.Log();
  int ingest = PortAfter(log, " ingest=127.0.0.1:");
  ASSERT_GT(ingest, 0) << log;

  // ExecReload= sends SIGHUP to $MAINPID.
  seen.clear();
  kill(server.pid(), SIGHUP);
  EXPECT_TRUE(server_notify.WaitFor("RELOADING=1", 5000, &seen)) << seen;
  EXPECT_TRUE(server_notify.WaitFor("READY=1", 5000, &seen)) << seen;

  std::string agent_unit = ReadFile(SourceDir() + "/deploy/systemd/svcdns-agent.service");
  ASSERT_TRUE(absl::StrContains(agent_unit, "Type=notify"));
  Strings agent_argv = ExecStart(
      agent_unit, {{"/usr/local/bin/svcdns", SVCDNS_BINARY},
                   {"${STATE_DIRECTORY}", agent_state},
                   {"/etc/svcdns.d", agent_conf},
                   {"$SVCDNS_AGENT_ARGS",
                    absl::StrCat("--node web-1 --advertise 127.0.0.9 --join 127.0.0.1:", ingest,
                                 " --http-addr 127.0.0.1:0")}});
  ASSERT_FALSE(agent_argv.empty()) << "no ExecStart= in svcdns-agent.service";
  ASSERT_EQ(agent_argv[0], SVCDNS_BINARY);
  NotifySocket agent_notify(dir.path() + "/agent.notify");
  ASSERT_TRUE(agent_notify.ok());
  argv = {"/usr/bin/env", "NOTIFY_SOCKET=" + agent_notify.path()};
  argv.insert(argv.end(), agent_argv.begin(), agent_argv.end());
  ChildProcess agent(argv, dir.path() + "/agent.log");
  seen.clear();
  ASSERT_TRUE(agent_notify.WaitFor("READY=1", 10000, &seen)) << seen << "\nlog:\n" << agent.Log();
  EXPECT_TRUE(WaitUntil([&] { return absl::StrContains(server.Log(), "node=web-1"); }, 10000))
      << server.Log() << "\nagent:\n" << agent.Log();

  // Stopping (SIGTERM, as systemd does): STOPPING=1.
  seen.clear();
  agent.Stop();
  EXPECT_TRUE(agent_notify.WaitFor("STOPPING=1", 1000, &seen)) << seen;
  server.Stop();
  EXPECT_TRUE(server_notify.WaitFor("STOPPING=1", 1000, &seen)) << seen;
}

// Starts `argv` in `ns`, logging to dir/<name>.log, and waits (at most
// 10 s) for svcdns' "event=listening" line; nullptr if it exited first.
std::unique_ptr<ChildProcess> StartListening(const NetNamespace& ns, const Strings& argv,
                                             const TempDir& dir, const std::string& name,
                                             std::string* log) {
  auto child = std::make_unique<ChildProcess>(ns.Exec(argv), dir.path() + "/" + name + ".log");
  bool up = WaitUntil(
      [&] { return !child->Running() || absl::StrContains(child->Log(), "event=listening"); },
      10000);
  *log = child->Log();
  if (!up || !child->Running()) return nullptr;
  return child;
}

// `dig +short` inside the namespace, sorted lines.
Strings Dig(const NetNamespace& ns, const std::string& args) {
  std::string out = RunShell(ns.Shell("dig +short +time=2 +tries=1 " + args + " 2>&1"), 10);
  Strings lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  std::sort(lines.begin(), lines.end());
  return lines;
}

// `getent ahosts NAME` inside the namespace: the set of addresses.
std::set<std::string> Getent(const NetNamespace& ns, const std::string& name,
                             std::string* raw = nullptr) {
  std::string out = RunShell(ns.Shell("getent ahosts " + name + " 2>&1"), 15);
  if (raw != nullptr) *raw = out;
  std::set<std::string> addresses;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    Strings f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!f.empty()) addresses.insert(f[0]);
  }
  return addresses;
}

// 2. Port 53 as nobody with only CAP_NET_BIND_SERVICE (what
// svcdns.service's AmbientCapabilities= gives), and a clear error without it.
TEST(SystemIntegrationsTest, Port53WithOnlyNetBindService) {
  if (std::string why = NetnsUnavailable(); !why.empty()) GTEST_SKIP() << why;
  std::string setpriv = FindProgram({"/usr/bin/setpriv", "/bin/setpriv"});
  if (setpriv.empty()) GTEST_SKIP() << "setpriv is not installed (package util-linux)";
  if (FindProgram({"/usr/bin/dig"}).empty()) GTEST_SKIP() << "dig is not installed";
  NetNamespace ns;
  ASSERT_TRUE(ns.ok()) << ns.error();
  TempDir dir;
  // --pdeathsig keep: changing the uid clears ChildProcess' PR_SET_PDEATHSIG.
  const Strings as_nobody = {setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             "--pdeathsig=keep"};
  Strings argv = as_nobody;
  for (const char* a : {"--inh-caps=-all,+net_bind_service",
                        "--ambient-caps=-all,+net_bind_service", "--", SVCDNS_BINARY, "serve",
                        "--dns-addr", "127.0.0.1:53", "--ingest-addr", "", "--http-addr", "",
                        "--workers", "1", "--node", "demo", "--config-dir"}) {
    argv.push_back(a);
  }
  argv.push_back(ExampleServices());
  std::string log;
  auto server = StartListening(ns, argv, dir, "svcdns", &log);
  ASSERT_NE(server, nullptr) << "svcdns did not start as nobody:\n" << log;
  EXPECT_TRUE(absl::StrContains(log, "dns=127.0.0.1:53")) << log;

  // It runs as nobody, with CAP_NET_BIND_SERVICE (bit 10) and nothing else.
  std::string status = ReadFile(absl::StrCat("/proc/", server->pid(), "/status"));
  EXPECT_TRUE(absl::StrContains(status, "\nUid:\t65534\t65534\t65534\t65534\n")) << status;
  EXPECT_TRUE(absl::StrContains(status, "\nCapEff:\t0000000000000400\n")) << status;

  EXPECT_EQ(Dig(ns, "@127.0.0.1 web.service.consul SRV"),
            (Strings{"1 1 8080 demo.node.dc1.consul.", "1 1 9080 demo.node.dc1.consul."}));
  EXPECT_EQ(Dig(ns, "@127.0.0.1 +tcp web.service.consul A"), Strings{"127.0.0.1"});
  server->Stop();

  // Without the capability: exit status 1 and the reason, at once.
  int code = -1;
  std::string out = RunShell(
      ns.Shell(absl::StrJoin(Strings{setpriv, "--reuid=nobody", "--regid=nogroup",
                                     "--clear-groups", "--inh-caps=-all", "--ambient-caps=-all",
                                     "--", SVCDNS_BINARY, "serve", "--dns-addr", "127.0.0.1:53",
                                     "--ingest-addr", "''", "--http-addr", "''", "--node", "demo"},
                             " ") +
               " 2>&1"),
      10, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(absl::StrContains(out, "bind udp 127.0.0.1:53: Permission denied")) << out;
}

// 3. glibc (getent) with deploy/resolv.conf/resolv.conf as shipped: svcdns
// alone on port 53, its search list, --recursor to another authoritative
// server (for example.test), and a service an agent registers.
TEST(SystemIntegrationsTest, GlibcResolvConfWithRecursor) {
  if (std::string why = NetnsUnavailable(); !why.empty()) GTEST_SKIP() << why;
  if (FindProgram({"/usr/bin/getent"}).empty()) GTEST_SKIP() << "getent is not installed";
  NetNamespace ns;
  ASSERT_TRUE(ns.ok()) << ns.error();
  std::string resolv = ReadFile(SourceDir() + "/deploy/resolv.conf/resolv.conf");
  ASSERT_TRUE(absl::StrContains(resolv, "\nnameserver 127.0.0.1\n")) << resolv;
  ASSERT_TRUE(ns.SetResolvConf(resolv));
  ASSERT_EQ(RunShell(ns.Shell("cat /etc/resolv.conf"), 5), resolv);
  TempDir dir;

  // The recursor: svcdns authoritative for example.test (web: 10.0.1.10).
  std::string log;
  auto upstream = StartListening(
      ns,
      {SVCDNS_BINARY, "serve", "--dns-addr", "127.0.0.1:5300", "--ingest-addr", "",
       "--http-addr", "", "--workers", "1", "--domain", "example.test", "--catalog",
       ExampleCatalog()},
      dir, "upstream", &log);
  ASSERT_NE(upstream, nullptr) << log;
  // svcdns on port 53, its node at a distinctive address.
  auto server = StartListening(
      ns,
      {SVCDNS_BINARY, "serve", "--dns-addr", "127.0.0.1:53", "--ingest-addr", "127.0.0.1:8502",
       "--http-addr", "", "--workers", "1", "--node", "demo", "--advertise", "10.53.0.1",
       "--config-dir", ExampleServices(), "--recursor", "127.0.0.1:5300"},
      dir, "svcdns", &log);
  ASSERT_NE(server, nullptr) << log;

  std::string raw;
  EXPECT_EQ(Getent(ns, "web.service.consul", &raw), std::set<std::string>{"10.53.0.1"}) << raw;
  // The snippet's search list: a bare service name, and a node name.
  EXPECT_EQ(Getent(ns, "web", &raw), std::set<std::string>{"10.53.0.1"}) << raw;
  EXPECT_EQ(Getent(ns, "demo", &raw), std::set<std::string>{"10.53.0.1"}) << raw;
  // Outside consul: through the recursor.
  EXPECT_EQ(Getent(ns, "web.service.example.test", &raw), std::set<std::string>{"10.0.1.10"})
      << raw;
  EXPECT_EQ(Getent(ns, "cache1.node.example.test", &raw), std::set<std::string>{"10.0.2.20"})
      << raw;
  int code = -1;
  RunShell(ns.Shell("getent ahosts nope.service.consul >/dev/null 2>&1"), 15, &code);
  EXPECT_EQ(code, 2);  // not found

  // An agent in the namespace registers late (10.53.0.9): glibc sees it.
  ChildProcess agent(ns.Exec({SVCDNS_TEST_AGENT, "8502", "late-node", "10.53.0.9", "late"}),
                     dir.path() + "/agent.log");
  ASSERT_TRUE(WaitUntil(
      [&] { return !agent.Running() || absl::StrContains(agent.Log(), "registered"); }, 10000))
      << agent.Log();
  ASSERT_TRUE(agent.Running()) << agent.Log();
  auto registered = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitUntil(
      [&] { return Getent(ns, "late.service.consul", &raw) == std::set<std::string>{"10.53.0.9"}; },
      5000))
      << raw;
  EXPECT_LT(std::chrono::steady_clock::now() - registered, std::chrono::seconds(3));
  EXPECT_EQ(Getent(ns, "late-node", &raw), std::set<std::string>{"10.53.0.9"}) << raw;
  agent.Stop();
}

// The systemd-resolved binary of Debian's package, extracted from the .deb
// scripts/install-deps.sh downloads (never installed: that would replace
// /etc/resolv.conf) into `dir`; "" with *why set when it cannot run here.
std::string ExtractResolved(const TempDir& dir, std::string* why) {
  std::string deb;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/var/cache/svcdns/debs", ec)) {
    if (absl::StartsWith(e.path().filename().string(), "systemd-resolved_")) {
      deb = e.path().string();
    }
  }
  if (deb.empty()) {
    *why = "no /var/cache/svcdns/debs/systemd-resolved_*.deb (scripts/install-deps.sh)";
    return "";
  }
  int code = -1;
  std::string root = dir.path() + "/resolved-root";
  std::string out = RunShell("dpkg-deb -x " + deb + " " + root + " 2>&1", 20, &code);
  if (code != 0) {
    *why = "dpkg-deb -x " + deb + " failed: " + out;
    return "";
  }
  std::string binary = FindProgram({root + "/lib/systemd/systemd-resolved",
                                    root + "/usr/lib/systemd/systemd-resolved"});
  if (binary.empty()) {
    *why = deb + " has no systemd-resolved";
    return "";
  }
  // It links against systemd's private libsystemd-shared: that of the
  // installed systemd, which must be the same version.
  out = RunShell(binary + " --version 2>&1", 10, &code);
  if (code != 0) {
    *why = "the extracted systemd-resolved does not run (systemd not installed, or another "
           "version): " + out;
    return "";
  }
  return binary;
}

// The rcode of each query for `qname` (with its final dot) in the log of a
// svcdns run with --query-log-sample 1, in order.
Strings LoggedRcodes(const std::string& log, const std::string& qname) {
  Strings rcodes;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::StrContains(line, " event=query ") ||
        !absl::StrContains(line, " qname=" + qname + " ")) {
      continue;
    }
    absl::string_view rcode = line.substr(line.find(" rcode=") + 7);
    rcodes.emplace_back(rcode.substr(0, rcode.find(' ')));
  }
  return rcodes;
}

// 4. systemd-resolved (Debian's binary) with deploy/systemd-resolved/
// svcdns.conf as shipped, svcdns on 127.0.0.1:8600 (the snippet's DNS=),
// all in a network namespace; resolved runs as nobody with its unit's
// capabilities, its configuration and state on a tmpfs mounted over
// /run/systemd in its own mount namespace (the drop-in goes to
// /run/systemd/resolved.conf.d/). Without D-Bus it runs all the same (it
// waits for the bus in the background). The machine's normal upstream is a
// DNS server on its link (192.0.2.2, at the other end of a veth pair, in a
// second namespace), as systemd-networkd would hand it to resolved. Queried
// on its stub 127.0.0.53, with dig and with glibc: consul names come from
// svcdns alone, other names from the uplink.
TEST(SystemIntegrationsTest, SystemdResolvedDropIn) {
  if (std::string why = NetnsUnavailable(); !why.empty()) GTEST_SKIP() << why;
  std::string setpriv = FindProgram({"/usr/bin/setpriv", "/bin/setpriv"});
  if (setpriv.empty()) GTEST_SKIP() << "setpriv is not installed (package util-linux)";
  if (FindProgram({"/usr/bin/dig"}).empty()) GTEST_SKIP() << "dig is not installed";
  if (!std::filesystem::is_directory("/run/systemd")) GTEST_SKIP() << "no /run/systemd to hide";
  TempDir dir;
  // resolved runs as nobody: the extracted binary must be reachable.
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all |
                                               std::filesystem::perms::group_read |
                                               std::filesystem::perms::group_exec |
                                               std::filesystem::perms::others_read |
                                               std::filesystem::perms::others_exec);
  std::string why;
  std::string resolved = ExtractResolved(dir, &why);
  if (resolved.empty()) GTEST_SKIP() << why;
  std::string snippet = ReadFile(SourceDir() + "/deploy/systemd-resolved/svcdns.conf");
  ASSERT_TRUE(absl::StrContains(snippet, "\nDNS=127.0.0.1:8600\n")) << snippet;
  std::string snippet_path = dir.Write("svcdns.conf", snippet);

  NetNamespace ns, uplink_ns;
  ASSERT_TRUE(ns.ok()) << ns.error();
  ASSERT_TRUE(uplink_ns.ok()) << uplink_ns.error();
  // resolved sends nothing while the network is "down": it wants a link
  // with a routable address besides loopback. svcdns0 (192.0.2.1) is that
  // link; its veth peer (192.0.2.2) is in uplink_ns, where the upstream runs.
  int code = -1;
  std::string out = RunShell(
      ns.Shell("sh -c 'ip link add svcdns0 type veth peer name svcdns1 netns " +
               uplink_ns.name() +
               " && ip addr add 192.0.2.1/24 dev svcdns0 && "
               "ip link set svcdns0 up && ip route add default dev svcdns0' 2>&1"),
      10, &code);
  ASSERT_EQ(code, 0) << out;
  out = RunShell(uplink_ns.Shell("sh -c 'ip addr add 192.0.2.2/24 dev svcdns1 && "
                                 "ip link set svcdns1 up' 2>&1"),
                 10, &code);
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(ns.SetResolvConf("nameserver 127.0.0.53\noptions edns0 trust-ad\n"));

  std::string log;
  auto server = StartListening(
      ns,
      {SVCDNS_BINARY, "serve", "--dns-addr", "127.0.0.1:8600", "--ingest-addr", "127.0.0.1:8502",
       "--http-addr", "", "--workers", "1", "--catalog", ExampleCatalog(),
       "--query-log-sample", "1"},
      dir, "svcdns", &log);
  ASSERT_NE(server, nullptr) << log;
  // The upstream: another svcdns, authoritative for example.test only, where
  // web is 198.51.100.7; it logs every query it gets.
  auto uplink = StartListening(
      uplink_ns,
      {SVCDNS_BINARY, "serve", "--dns-addr", "192.0.2.2:53", "--ingest-addr", "",
       "--http-addr", "", "--workers", "1", "--domain", "example.test", "--node", "uplink",
       "--advertise", "198.51.100.7", "--config-dir", ExampleServices(),
       "--query-log-sample", "1"},
      dir, "uplink", &log);
  ASSERT_NE(uplink, nullptr) << log;

  // svcdns0's DNS server, in systemd-networkd's state file for the link
  // (sd-network): resolved takes it only from a link networkd has
  // configured (ADMIN_STATE) and that is up (OPER_STATE).
  std::string script = dir.Write(
      "resolved.sh",
      absl::StrCat("set -e\n"
                   "mount -t tmpfs -o mode=0755 tmpfs /run/systemd\n"
                   "mkdir -p /run/systemd/resolved.conf.d /run/systemd/resolve "
                   "/run/systemd/netif/links\n"
                   "cp ", snippet_path, " /run/systemd/resolved.conf.d/svcdns.conf\n"
                   "printf 'ADMIN_STATE=configured\\nOPER_STATE=routable\\nDNS=192.0.2.2\\n' "
                   ">/run/systemd/netif/links/$(cat /sys/class/net/svcdns0/ifindex)\n"
                   "chown nobody:nogroup /run/systemd/resolve\n"
                   "exec ", setpriv, " --reuid=nobody --regid=nogroup --clear-groups "
                   "--pdeathsig=keep "
                   "--inh-caps=-all,+net_bind_service,+net_raw,+setpcap "
                   "--ambient-caps=-all,+net_bind_service,+net_raw,+setpcap -- "
                   "env SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=info ", resolved, "\n"));
  ChildProcess proc(ns.Exec({"/bin/sh", script}), dir.path() + "/resolved.log");
  auto answers = [&](const std::string& query) {
    return RunShell(ns.Shell("dig +time=1 +tries=1 @127.0.0.53 " + query + " 2>&1"), 5);
  };
  ASSERT_TRUE(WaitUntil(
      [&] { return !proc.Running() || absl::StrContains(answers("consul SOA"), "NOERROR"); },
      10000) && proc.Running())
      << proc.Log() << "\n" << answers("consul SOA");
  // consul names match the drop-in's routing domain ~consul: resolved asks
  // only its global DNS=127.0.0.1:8600 (the uplink's log shows it, below).
  EXPECT_EQ(Dig(ns, "@127.0.0.53 web.service.consul A"), Strings{"10.0.1.10"});
  EXPECT_EQ(Dig(ns, "@127.0.0.53 _web._tcp.service.consul SRV"),
            Strings{"1 1 8080 web1.node.dc1.consul."});
  EXPECT_EQ(Dig(ns, "@127.0.0.53 mon1.node.dc2.consul AAAA"), Strings{"2001:db8::10"});
  EXPECT_TRUE(absl::StrContains(answers("nope.service.consul A"), "status: NXDOMAIN"));
  // glibc through the stub.
  std::string raw;
  EXPECT_EQ(Getent(ns, "web.service.consul", &raw), std::set<std::string>{"10.0.1.10"}) << raw;

  // Other names: the answer is the uplink's. resolved asks the global DNS=
  // about them too, in parallel (the global scope is always a default route),
  // and svcdns, with no --recursor, refuses them at once; resolved then
  // waits for the link's answer.
  EXPECT_EQ(Dig(ns, "@127.0.0.53 web.service.example.test A"), Strings{"198.51.100.7"});
  EXPECT_EQ(Getent(ns, "web.service.example.test", &raw), std::set<std::string>{"198.51.100.7"})
      << raw;
  Strings refused = LoggedRcodes(server->Log(), "web.service.example.test.");
  EXPECT_FALSE(refused.empty()) << server->Log();
  EXPECT_EQ(refused, Strings(refused.size(), "REFUSED")) << server->Log();
  Strings answered = LoggedRcodes(uplink->Log(), "web.service.example.test.");
  EXPECT_FALSE(answered.empty()) << uplink->Log();
  EXPECT_EQ(answered, Strings(answered.size(), "NOERROR")) << uplink->Log();

  // resolved keeps no negative answer (the SOA minimum is 0 s): a service
  // registered right after an NXDOMAIN is answered within a second or two.
  EXPECT_TRUE(absl::StrContains(answers("late.service.consul A"), "status: NXDOMAIN"));
  ChildProcess agent(ns.Exec({SVCDNS_TEST_AGENT, "8502", "late-node", "10.53.0.9", "late"}),
                     dir.path() + "/agent.log");
  ASSERT_TRUE(WaitUntil(
      [&] { return !agent.Running() || absl::StrContains(agent.Log(), "registered"); }, 10000))
      << agent.Log();
  auto registered = std::chrono::steady_clock::now();
  Strings late;
  EXPECT_TRUE(WaitUntil(
      [&] {
        late = Dig(ns, "@127.0.0.53 late.service.consul A");
        return late == Strings{"10.53.0.9"};
      },
      5000))
      << absl::StrJoin(late, "\n");
  EXPECT_LT(std::chrono::steady_clock::now() - registered, std::chrono::seconds(3));
  // Not one consul name, before or after svcdns' refusals, went to the uplink.
  EXPECT_FALSE(absl::StrContains(uplink->Log(), "consul. qtype=")) << uplink->Log();
  agent.Stop();
  proc.Stop();
}

// 5. Prometheus (Debian's, dns_sd_configs only) with deploy/prometheus/
// svcdns.yml as shipped plus a `global:` section for a 1 s scrape
// interval: it finds the exporters by SRV through resolv.conf naming svcdns
// on port 53, and scrapes svcdns' own /metrics on 127.0.0.1:8500.
TEST(SystemIntegrationsTest, PrometheusDnsSdAndMetrics) {
  if (std::string why = NetnsUnavailable(); !why.empty()) GTEST_SKIP() << why;
  std::string prometheus = FindProgram({"/usr/bin/prometheus"});
  if (prometheus.empty()) GTEST_SKIP() << "prometheus is not installed";
  if (FindProgram({"/usr/bin/curl"}).empty()) GTEST_SKIP() << "curl is not installed";
  NetNamespace ns;
  ASSERT_TRUE(ns.ok()) << ns.error();
  ASSERT_TRUE(ns.SetResolvConf(ReadFile(SourceDir() + "/deploy/resolv.conf/resolv.conf")));
  TempDir dir;
  std::string log;
  auto server = StartListening(
      ns,
      {SVCDNS_BINARY, "serve", "--dns-addr", "127.0.0.1:53", "--ingest-addr", "",
       "--http-addr", "127.0.0.1:8500", "--workers", "1", "--node", "demo", "--config-dir",
       ExampleServices()},
      dir, "svcdns", &log);
  ASSERT_NE(server, nullptr) << log;

  std::string snippet = ReadFile(SourceDir() + "/deploy/prometheus/svcdns.yml");
  ASSERT_TRUE(absl::StrContains(snippet, "targets: [\"127.0.0.1:8500\"]")) << snippet;
  std::string config = dir.Write(
      "prometheus.yml",
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n" + snippet);
  std::filesystem::create_directories(dir.path() + "/data");
  // A stand-in redis exporter where svcdns says it is (demo is 127.0.0.1):
  // a static /metrics file served by python3 in the namespace.
  std::filesystem::create_directories(dir.path() + "/exporter");
  dir.Write("exporter/metrics", "redis_up 1\n");
  std::unique_ptr<ChildProcess> exporter;
  std::string python = FindProgram({"/usr/bin/python3"});
  if (!python.empty()) {
    exporter = std::make_unique<ChildProcess>(
        ns.Exec({python, "-m", "http.server", "9121", "--bind", "127.0.0.1", "--directory",
                 dir.path() + "/exporter"}),
        dir.path() + "/exporter.log");
  }
  ChildProcess prom(ns.Exec({prometheus, "--config.file=" + config,
                             "--storage.tsdb.path=" + dir.path() + "/data",
                             "--web.listen-address=127.0.0.1:9090"}),
                    dir.path() + "/prometheus.log");

  // job -> the targets' addresses and health, from /api/v1/targets.
  std::map<std::string, std::map<std::string, std::string>> jobs;
  std::string out;
  auto targets = [&] {
    out = RunShell(ns.Shell("curl -s --noproxy '*' --max-time 2 "
                            "http://127.0.0.1:9090/api/v1/targets"),
                   5);
    nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    jobs.clear();
    if (j.is_discarded() || !j.contains("data")) return false;
    for (const auto& t : j["data"]["activeTargets"]) {
      jobs[t["labels"]["job"].get<std::string>()][t["labels"]["instance"].get<std::string>()] =
          t["health"].get<std::string>();
    }
    return true;
  };
  std::map<std::string, std::string> down_or_up;
  bool ok = WaitUntil(
      [&] {
        if (!prom.Running() || !targets()) return false;
        return jobs["svcdns"]["127.0.0.1:8500"] == "up" && jobs["gitlab-exporter"].size() == 1 &&
               jobs["postgres-exporter"].size() == 1 &&
               (exporter == nullptr ? jobs["redis-exporter"].size() == 1
                                    : jobs["redis-exporter"]["demo.node.dc1.consul:9121"] == "up");
      },
      20000);
  ASSERT_TRUE(ok) << out << "\nprometheus:\n" << prom.Log().substr(0, 4000);
  // Each exporter at the SRV answer's target and port, that name resolved
  // through svcdns too (only the redis one has something listening).
  EXPECT_EQ(jobs["gitlab-exporter"].begin()->first, "demo.node.dc1.consul:9168") << out;
  EXPECT_EQ(jobs["postgres-exporter"].begin()->first, "demo.node.dc1.consul:9187") << out;
  EXPECT_EQ(jobs["redis-exporter"].begin()->first, "demo.node.dc1.consul:9121") << out;
  // svcdns counted Prometheus' SRV queries.
  std::string metrics = RunShell(
      ns.Shell("curl -s --noproxy '*' --max-time 2 http://127.0.0.1:8500/metrics"), 5);
  EXPECT_TRUE(absl::StrContains(metrics, "svcdns_dns_queries_by_type_total{qtype=\"SRV\"}"))
      << metrics.substr(0, 3000);
  prom.Stop();
}

}  // namespace
}  // namespace svcdns::testing
