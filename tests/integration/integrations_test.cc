// The real programs of Debian's packages in front of svcdns, each with the
// snippet shipped in deploy/ (a copy in which only svcdns' port changes; the
// program's own port is given on its command line or in a minimal main
// config): dnsmasq, unbound, python3-consul, Ruby's Resolv::DNS and HAProxy.
// Each program runs in the foreground in a temp dir on 127.0.0.1 high ports
// and is stopped by PID; a test is skipped when its program is missing
// (scripts/install-deps.sh installs them all).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/integrations_util.h"
#include "tests/testing/agent_stream.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

using integrations::AdaptSnippet;
using integrations::ChildProcess;
using integrations::FindProgram;
using integrations::FreePort;
using integrations::HaproxyCommand;
using integrations::RunShell;
using integrations::WaitForDns;
using integrations::WaitUntil;

std::string ExampleCatalog() { return SourceDir() + "/deploy/examples/catalog.json"; }
std::string ExampleServices() { return SourceDir() + "/deploy/examples/services"; }

std::unique_ptr<ServerProcess> StartServer(const std::vector<std::string>& args) {
  auto server = ServerProcess::Start(args);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Starts a program on a fresh free port (make(port) builds it) and waits for
// `ready(port)`; a program that exited (a lost race for the port) is tried
// again on another port. *port gets the port; nullptr after 3 failures.
std::unique_ptr<ChildProcess> StartOnFreePort(
    const std::function<std::unique_ptr<ChildProcess>(uint16_t)>& make,
    const std::function<bool(uint16_t)>& ready, uint16_t* port, std::string* log) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    *port = FreePort();
    std::unique_ptr<ChildProcess> child = make(*port);
    bool up =
        WaitUntil([&] { return !child->Running() || ready(*port); }, 8000) && child->Running();
    *log = child->Log();
    if (up) return child;
  }
  return nullptr;
}

// The answer's rcode and the rdata of its records of `type`.
struct Answer {
  int rcode = -1;
  std::vector<std::string> rdata;
};
Answer Ask(uint16_t port, const std::string& name, ldns_rr_type type) {
  QueryOptions options;
  options.timeout_ms = 3000;
  auto r = Query("127.0.0.1", port, name, type, options);
  Answer a;
  if (!r.ok()) return a;
  a.rcode = (*r)->rcode();
  a.rdata = (*r)->AnswerRdata(type);
  std::sort(a.rdata.begin(), a.rdata.end());
  return a;
}

using Strings = std::vector<std::string>;

// 1. dnsmasq with deploy/dnsmasq/svcdns.conf.
TEST(IntegrationsTest, DnsmasqForwardsConsulAndReverseNames) {
  std::string dnsmasq = FindProgram({"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"});
  if (dnsmasq.empty()) GTEST_SKIP() << "dnsmasq is not installed (package dnsmasq-base)";
  auto server = StartServer({"--catalog", ExampleCatalog()});
  ASSERT_NE(server, nullptr);
  TempDir dir;
  // The snippet's ranges (10.0.0.0/8, 192.168.0.0/16) cover the catalog's
  // addresses: only svcdns' port changes.
  std::string conf = AdaptSnippet("deploy/dnsmasq/svcdns.conf",
                                  {{"127.0.0.1#8600", absl::StrCat("127.0.0.1#", server->port())}});
  ASSERT_FALSE(conf.empty()) << "deploy/dnsmasq/svcdns.conf no longer names 127.0.0.1#8600";
  std::string conf_path = dir.Write("svcdns.conf", conf);

  uint16_t port = 0;
  std::string log;
  auto proc = StartOnFreePort(
      [&](uint16_t p) {
        return std::make_unique<ChildProcess>(
            Strings{dnsmasq, "--no-daemon", "--conf-file=" + conf_path, absl::StrCat("--port=", p),
                    "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                    "--pid-file=" + dir.path() + "/dnsmasq.pid", "--log-facility=-",
                    "--log-queries"},
            dir.path() + "/dnsmasq.log");
      },
      [](uint16_t p) { return WaitForDns(p, "consul", 300); }, &port, &log);
  ASSERT_NE(proc, nullptr) << "dnsmasq did not start:\n" << log;

  Answer a = Ask(port, "web.service.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(a.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(a.rdata, Strings{"10.0.1.10"});  // web2 is critical
  Answer srv = Ask(port, "_web._tcp.service.consul", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(srv.rdata, Strings{"1 1 8080 web1.node.dc1.consul."});
  Answer ptr = Ask(port, "10.1.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
  EXPECT_EQ(ptr.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(ptr.rdata, Strings{"web1.node.dc1.consul."});
  EXPECT_EQ(Ask(port, "nope.service.consul", LDNS_RR_TYPE_A).rcode, LDNS_RCODE_NXDOMAIN);

  // A service registered right after a negative answer is there at once:
  // neither dnsmasq (neg-ttl=0) nor the SOA minimum (0) keeps the NXDOMAIN.
  EXPECT_EQ(Ask(port, "late.service.consul", LDNS_RR_TYPE_A).rcode, LDNS_RCODE_NXDOMAIN);
  AgentStream agent(server->ingest_port());
  ASSERT_TRUE(agent.Register("late-node", "10.0.9.9", {ServiceProto("late1", "late", 7000)}));
  Answer late = Ask(port, "late.service.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(late.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(late.rdata, Strings{"10.0.9.9"});
  EXPECT_EQ(Ask(port, "9.9.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR).rdata,
            Strings{"late-node.node.dc1.consul."});
  proc->Stop();
  EXPECT_NE(log.find("using nameserver 127.0.0.1#"), std::string::npos) << log;
}

// 2. unbound with deploy/unbound/svcdns.conf and unbound's defaults (QNAME
// minimisation on): a minimal unbound.conf that includes the snippet.
TEST(IntegrationsTest, UnboundStubZoneWithQnameMinimisation) {
  std::string unbound = FindProgram({"/usr/sbin/unbound"});
  if (unbound.empty()) GTEST_SKIP() << "unbound is not installed";
  auto server = StartServer({"--catalog", ExampleCatalog()});
  ASSERT_NE(server, nullptr);
  TempDir dir;
  std::string stub = AdaptSnippet("deploy/unbound/svcdns.conf",
                                  {{"127.0.0.1@8600", absl::StrCat("127.0.0.1@", server->port())}});
  ASSERT_FALSE(stub.empty()) << "deploy/unbound/svcdns.conf no longer names 127.0.0.1@8600";
  std::string stub_path = dir.Write("svcdns.conf", stub);

  uint16_t port = 0;
  std::string log;
  auto proc = StartOnFreePort(
      [&](uint16_t p) {
        std::string conf = absl::StrCat(
            "server:\n"
            "    interface: 127.0.0.1\n"
            "    port: ", p, "\n"
            "    do-daemonize: no\n"
            "    username: \"\"\n"
            "    chroot: \"\"\n"
            "    directory: \"", dir.path(), "\"\n"
            "    pidfile: \"", dir.path(), "/unbound.pid\"\n"
            "    use-syslog: no\n"
            "    logfile: \"\"\n"
            "    module-config: \"iterator\"\n"
            "    access-control: 127.0.0.0/8 allow\n"
            "remote-control:\n"
            "    control-enable: no\n"
            "include: \"", stub_path, "\"\n");
        std::string conf_path = dir.Write("unbound.conf", conf);
        return std::make_unique<ChildProcess>(Strings{unbound, "-d", "-c", conf_path},
                                              dir.path() + "/unbound.log");
      },
      [](uint16_t p) { return WaitForDns(p, "consul", 300); }, &port, &log);
  ASSERT_NE(proc, nullptr) << "unbound did not start:\n" << log;

  EXPECT_EQ(Ask(port, "web.service.consul", LDNS_RR_TYPE_A).rdata, Strings{"10.0.1.10"});
  EXPECT_EQ(Ask(port, "_web._tcp.service.consul", LDNS_RR_TYPE_SRV).rdata,
            Strings{"1 1 8080 web1.node.dc1.consul."});
  // Tags, both spellings.
  EXPECT_EQ(Ask(port, "v1.web.service.consul", LDNS_RR_TYPE_A).rdata, Strings{"10.0.1.10"});
  EXPECT_EQ(Ask(port, "_web._v1.service.consul", LDNS_RR_TYPE_SRV).rdata,
            Strings{"1 1 8080 web1.node.dc1.consul."});
  EXPECT_EQ(Ask(port, "primary.redis.service.consul", LDNS_RR_TYPE_A).rdata,
            Strings{"10.3.13.112"});
  EXPECT_EQ(Ask(port, "v2.web.service.consul", LDNS_RR_TYPE_A).rcode, LDNS_RCODE_NXDOMAIN);
  // AAAA: the catalog's IPv6 node, and one registered by an agent.
  EXPECT_EQ(Ask(port, "mon1.node.dc2.consul", LDNS_RR_TYPE_AAAA).rdata, Strings{"2001:db8::10"});
  AgentStream v6(server->ingest_port());
  ASSERT_TRUE(v6.Register("v6-node", "2001:db8::7", {ServiceProto("v6svc1", "v6svc", 7070)}));
  EXPECT_EQ(Ask(port, "v6svc.service.consul", LDNS_RR_TYPE_AAAA).rdata, Strings{"2001:db8::7"});
  EXPECT_EQ(Ask(port, "_v6svc._tcp.service.consul", LDNS_RR_TYPE_SRV).rdata,
            Strings{"1 1 7070 v6-node.node.dc1.consul."});

  // Negative answers last the SOA minimum (0 s): a service registered right
  // after one is answered as soon as that has passed.
  Answer negative = Ask(port, "late.service.consul", LDNS_RR_TYPE_A);
  EXPECT_EQ(negative.rcode, LDNS_RCODE_NXDOMAIN);
  AgentStream agent(server->ingest_port());
  ASSERT_TRUE(agent.Register("late-node", "10.0.9.8", {ServiceProto("late1", "late", 7000)}));
  auto registered = std::chrono::steady_clock::now();
  Answer late;
  EXPECT_TRUE(WaitUntil(
      [&] {
        late = Ask(port, "late.service.consul", LDNS_RR_TYPE_A);
        return late.rdata == Strings{"10.0.9.8"};
      },
      3000))
      << "rcode " << late.rcode;
  EXPECT_LT(std::chrono::steady_clock::now() - registered, std::chrono::seconds(2));
  proc->Stop();
}

// Runs `script` with Debian's python3 (where python3-consul lives) under a
// bound; "" when python3-consul is missing.
std::string Python() {
  std::string python = FindProgram({"/usr/bin/python3"});
  if (python.empty()) return "";
  int code = -1;
  RunShell(python + " -c 'import consul' 2>/dev/null", 10, &code);
  return code == 0 ? python : "";
}
// Proxies from the environment must not catch 127.0.0.1.
constexpr char kNoProxy[] = "env NO_PROXY='*' no_proxy='*' ";

// 3. python3-consul against the Consul-shaped HTTP API.
TEST(IntegrationsTest, PythonConsulClient) {
  std::string python = Python();
  if (python.empty()) GTEST_SKIP() << "python3-consul is not installed";
  auto server = StartServer({"--config-dir", ExampleServices(), "--node", "demo"});
  ASSERT_NE(server, nullptr);
  TempDir dir;
  std::string script = dir.Write("catalog.py", R"(
import json, sys
import consul
c = consul.Consul(host='127.0.0.1', port=int(sys.argv[1]))
index, services = c.catalog.services()
_, passing = c.health.service('web', passing=True)
print(json.dumps({'index': int(index), 'services': services,
                  'passing': sorted(e['Service']['ID'] for e in passing)}))
)");
  int code = -1;
  std::string out = RunShell(
      absl::StrCat(kNoProxy, python, " ", script, " ", server->http_port(), " 2>&1"), 15, &code);
  ASSERT_EQ(code, 0) << out;
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_GT(j["index"].get<int64_t>(), 0);
  for (const char* name : {"web", "redis", "gitaly", "nginx", "prometheus", "rails", "sidekiq",
                           "workhorse", "praefect", "gitlab-exporter", "postgres-exporter",
                           "redis-exporter"}) {
    EXPECT_TRUE(j["services"].contains(name)) << name << " missing in " << out;
  }
  EXPECT_EQ(j["services"]["web"], nlohmann::json({"v1", "v2"}));
  EXPECT_EQ(j["passing"], nlohmann::json({"web1", "web2"}));

  // A watch as Consul clients write it: blocking queries (index=, wait=5s)
  // in a loop, each from the index of the last answer; it sees the service
  // as soon as an agent registers it.
  std::string blocking = dir.Write("blocking.py", R"(
import json, sys, time
import consul
c = consul.Consul(host='127.0.0.1', port=int(sys.argv[1]))
index, entries = c.health.service('api')
print('index', index, len(entries), flush=True)
started = time.monotonic()
wakeups = []
while not entries and time.monotonic() - started < 8:
    index, entries = c.health.service('api', index=index, wait='5s')
    wakeups.append([int(index), len(entries), round(time.monotonic() - started, 3)])
print(json.dumps({'index': int(index), 'seconds': time.monotonic() - started,
                  'wakeups': wakeups,
                  'ids': sorted(e['Service']['ID'] for e in entries)}), flush=True)
)");
  // pclose waits for the script, which `timeout` bounds.
  std::unique_ptr<FILE, int (*)(FILE*)> f(
      popen(absl::StrCat("timeout -k 2 15 ", kNoProxy, python, " ", blocking, " ",
                         server->http_port(), " 2>&1")
                .c_str(),
            "r"),
      pclose);
  ASSERT_NE(f, nullptr);
  char line[4096];
  std::string first = fgets(line, sizeof(line), f.get()) != nullptr ? line : "";
  EXPECT_EQ(first.rfind("index ", 0), 0u) << first;
  EXPECT_NE(first.find(" 0\n"), std::string::npos) << first;  // no api yet
  // Let the blocking request reach the server (it answers at once anyway if
  // the index moved first).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  AgentStream agent(server->ingest_port());
  ASSERT_TRUE(agent.Register("api-node", "10.9.0.1", {ServiceProto("api1", "api", 80)}));
  auto registered = std::chrono::steady_clock::now();
  std::string second = fgets(line, sizeof(line), f.get()) != nullptr ? line : "";
  auto answered = std::chrono::steady_clock::now();
  std::string rest;
  while (fgets(line, sizeof(line), f.get()) != nullptr) rest += line;
  f.reset();
  nlohmann::json r = nlohmann::json::parse(second, nullptr, false);
  ASSERT_FALSE(r.is_discarded()) << second << rest;
  EXPECT_LT(answered - registered, std::chrono::seconds(1)) << second;
  EXPECT_EQ(r["ids"], nlohmann::json({"api1"})) << second;
  std::cout << "[ INFO     ] watch: " << second;
}

// 4. Ruby's stub resolver (Resolv::DNS) asking SRV on svcdns' own port.
TEST(IntegrationsTest, RubyResolvSrv) {
  std::string ruby = FindProgram({"/usr/bin/ruby"});
  if (ruby.empty()) GTEST_SKIP() << "ruby is not installed";
  auto server = StartServer({"--config-dir", ExampleServices(), "--node", "demo"});
  ASSERT_NE(server, nullptr);
  std::string program = absl::StrCat(
      "Resolv::DNS.open(nameserver_port: [[\"127.0.0.1\", ", server->port(),
      "]]) { |d| d.timeouts = 3; d.getresources(\"_web._tcp.service.consul\", "
      "Resolv::DNS::Resource::IN::SRV).each { |r| puts \"#{r.port} #{r.target}\" } }");
  int code = -1;
  std::string out = RunShell(ruby + " -rresolv -e '" + program + "' 2>&1", 15, &code);
  ASSERT_EQ(code, 0) << out;
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (Strings{"8080 demo.node.dc1.consul", "9080 demo.node.dc1.consul"}));
}

// "addr:port" of every server of `backend` that has an address, from the
// stats socket's `show servers state`.
std::set<std::string> HaproxyServers(const std::string& socket, const std::string& backend,
                                     std::string* raw = nullptr) {
  std::string out = HaproxyCommand(socket, "show servers state " + backend);
  if (raw != nullptr) *raw = out;
  std::set<std::string> servers;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // be_id be_name srv_id srv_name srv_addr ... srv_fqdn(17) srv_port(18)
    if (f.size() < 19 || f[1] != backend || f[4] == "-") continue;
    servers.insert(f[4] + ":" + f[18]);
  }
  return servers;
}

// 5. HAProxy with deploy/haproxy/svcdns.cfg: server-template slots follow
// the SRV answer (over TCP) of a 300-instance service.
// A tiny HTTP server on one address: answers every request with its name.
class NamedHttpServer {
 public:
  NamedHttpServer(const std::string& ip, uint16_t port, std::string name) : name_(std::move(name)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(fd_, 64) == 0;
    thread_ = std::thread([this] {
      while (true) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;  // closed
        timeval tv{2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char buf[4096];
        recv(c, buf, sizeof(buf), 0);
        std::string reply = absl::StrCat("HTTP/1.0 200 OK\r\nContent-Length: ", name_.size(),
                                         "\r\nConnection: close\r\n\r\n", name_);
        send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
        close(c);
      }
    });
  }
  ~NamedHttpServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  bool ok() const { return ok_; }

 private:
  std::string name_;
  int fd_ = -1;
  bool ok_ = false;
  std::thread thread_;
};

TEST(IntegrationsTest, HaproxyServerTemplateFollowsSrv) {
  std::string haproxy = FindProgram({"/usr/sbin/haproxy"});
  if (haproxy.empty()) GTEST_SKIP() << "haproxy is not installed";
  auto server = StartServer({"--node", "demo"});
  ASSERT_NE(server, nullptr);

  // 300 nodes n<i>, each with one instance of web and a passing check. The
  // addresses are loopback ones: the snippet's `check` connects to them,
  // and nothing leaves the machine (nothing listens there either).
  constexpr int kNodes = 300;
  std::vector<std::unique_ptr<AgentStream>> agents;
  std::set<std::string> expected;
  auto address = [](int i) { return absl::StrCat("127.1.", i / 200, ".", i % 200 + 1); };
  for (int i = 1; i <= kNodes; ++i) {
    agents.push_back(std::make_unique<AgentStream>(server->ingest_port()));
    std::string id = absl::StrCat("web-", i);
    ASSERT_TRUE(agents.back()->Register(
        absl::StrCat("n", i), address(i), {ServiceProto(id, "web", 20000 + i)},
        {CheckProto(absl::StrCat("chk-", i), id, v1::HEALTH_STATUS_PASSING)}))
        << i;
    expected.insert(absl::StrCat(address(i), ":", 20000 + i));
  }

  // n1..n3 really serve HTTP (the others refuse, so HAProxy's checks mark
  // them down): requests through HAProxy show who is in rotation.
  std::vector<std::unique_ptr<NamedHttpServer>> backends;
  for (int i = 1; i <= 3; ++i) {
    backends.push_back(std::make_unique<NamedHttpServer>(address(i), 20000 + i, absl::StrCat("n", i)));
    ASSERT_TRUE(backends.back()->ok()) << address(i);
  }
  uint16_t frontend_port = FreePort();

  TempDir dir;
  std::string cfg =
      AdaptSnippet("deploy/haproxy/svcdns.cfg",
                   {{"tcp@127.0.0.1:8600", absl::StrCat("tcp@127.0.0.1:", server->port())}});
  ASSERT_FALSE(cfg.empty()) << "deploy/haproxy/svcdns.cfg no longer names tcp@127.0.0.1:8600";
  std::string cfg_path = dir.Write("svcdns.cfg", cfg);
  std::string socket = dir.path() + "/haproxy.sock";
  std::string global_path = dir.Write(
      "global.cfg", absl::StrCat("global\n"
                                 "    stats socket ", socket, " mode 600 level admin\n"
                                 "    pidfile ", dir.path(), "/haproxy.pid\n"
                                 "defaults\n"
                                 "    mode http\n"
                                 "    timeout connect 1s\n"
                                 "    timeout client 5s\n"
                                 "    timeout server 5s\n"
                                 "frontend test\n"
                                 "    bind 127.0.0.1:", frontend_port, "\n"
                                 "    default_backend web\n"));
  // The snippet has no frontend; the test adds one on a loopback port.
  ChildProcess proc({haproxy, "-db", "-f", global_path, "-f", cfg_path},
                    dir.path() + "/haproxy.log");
  auto answers = [&] { return !HaproxyCommand(socket, "show info").empty(); };
  ASSERT_TRUE(WaitUntil([&] { return !proc.Running() || answers(); }, 8000) && proc.Running())
      << proc.Log();

  std::set<std::string> servers;
  std::string raw;
  ASSERT_TRUE(WaitUntil(
      [&] {
        servers = HaproxyServers(socket, "web", &raw);
        return servers == expected;
      },
      8000))
      << servers.size() << " servers (too_big counts answers HAProxy dropped):\n"
      << HaproxyCommand(socket, "show resolvers svcdns") << raw.substr(0, 3000) << "\nlog:\n"
      << proc.Log().substr(0, 3000);

  // Who answers 30 requests through HAProxy's frontend.
  auto through_haproxy = [&] {
    std::set<std::string> who;
    for (int i = 0; i < 30; ++i) {
      who.insert(RunShell(absl::StrCat("curl -s --max-time 2 http://127.0.0.1:", frontend_port, "/"), 5));
    }
    who.erase("");
    return who;
  };
  std::set<std::string> who;
  EXPECT_TRUE(WaitUntil([&] { return (who = through_haproxy()) == std::set<std::string>{"n1", "n2", "n3"}; },
                        15000))
      << absl::StrJoin(who, ",");

  // n2's instance goes critical: it leaves the SRV answer, and HAProxy's
  // list once `hold obsolete` (10 s in the snippet) has passed; requests
  // then reach only n1 and n3.
  ASSERT_TRUE(agents[1]->Send(
      UpdateMessage(3, {CheckStatusChange("chk-2", v1::HEALTH_STATUS_CRITICAL)})));
  auto ack = agents[1]->Read();
  ASSERT_TRUE(IsAck(ack));
  auto flipped = std::chrono::steady_clock::now();
  expected.erase(absl::StrCat(address(2), ":", 20002));
  EXPECT_TRUE(WaitUntil(
      [&] {
        servers = HaproxyServers(socket, "web", &raw);
        return servers == expected;
      },
      14000))
      << servers.size() << " servers:\n" << raw.substr(0, 3000);
  std::cout << "[ INFO     ] critical instance left HAProxy after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - flipped).count()
            << " ms\n";
  EXPECT_EQ(through_haproxy(), (std::set<std::string>{"n1", "n3"}));
  proc.Stop();
}

}  // namespace
}  // namespace svcdns::testing
