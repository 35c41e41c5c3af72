// The real `svcdns agent` process streaming into the real `svcdns serve`:
// definitions, every kind of check, the registration API and the CLI,
// persistence, reload, members, and both sides surviving the other's
// restart or kill. Effects are checked through DNS (and the HTTP API).
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/agent_util.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

using agent_util::AgentProcess;
using agent_util::AgentSpec;
using agent_util::Curl;
using agent_util::CurlReply;
using agent_util::ServerAt;
using agent_util::TinyHttpServer;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

using Addrs = std::vector<std::string>;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path) << contents;
}

// {"service": {...}} as a definition file's text.
std::string DefinitionFile(const json& service) { return json{{"service", service}}.dump(2); }

// A script check that exits with the number in `code_file`.
json ScriptCheck(const std::string& code_file, const std::string& interval = "200ms") {
  return {{"args", {"/bin/sh", "-c", absl::StrCat("exit $(cat '", code_file, "')")}},
          {"interval", interval},
          {"timeout", "2s"}};
}

class AgentTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->ingest_port(), 0);
    ASSERT_NE(server_->http_port(), 0);
    dns_port_ = server_->port();
  }

  // Starts an agent joined to server_ (unless spec.join is given).
  std::unique_ptr<AgentProcess> StartAgent(AgentSpec spec) {
    if (spec.join.empty() && server_) spec.join = {server_->ingest_port()};
    auto agent = AgentProcess::Start(spec);
    EXPECT_TRUE(agent.ok()) << agent.status();
    if (!agent.ok()) return nullptr;
    return *std::move(agent);
  }

  // Sorted A records of `name`; {} for NXDOMAIN/NODATA.
  Addrs A(const std::string& name) {
    auto r = Query("127.0.0.1", dns_port_, name, LDNS_RR_TYPE_A);
    if (!r.ok()) return {"<no answer>"};
    if ((*r)->rcode() != LDNS_RCODE_NOERROR) return {};
    auto v = (*r)->AnswerRdata(LDNS_RR_TYPE_A);
    std::sort(v.begin(), v.end());
    return v;
  }

  std::vector<std::string> Srv(const std::string& name) {
    auto r = Query("127.0.0.1", dns_port_, name, LDNS_RR_TYPE_SRV);
    if (!r.ok() || (*r)->rcode() != LDNS_RCODE_NOERROR) return {};
    auto v = (*r)->AnswerRdata(LDNS_RR_TYPE_SRV);
    std::sort(v.begin(), v.end());
    return v;
  }

  // Waits up to `timeout_ms` for A(name) == expected.
  bool Eventually(const std::string& name, const Addrs& expected, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      if (A(name) == expected) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    return A(name) == expected;
  }

  // A(name) stays `expected` for `ms` (sampled).
  bool Stays(const std::string& name, const Addrs& expected, int ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < deadline) {
      if (A(name) != expected) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

  // PUT `body` (written to a file, sent as curl --data @file).
  CurlReply Put(uint16_t port, const std::string& path, const std::string& body = "") {
    if (body.empty()) return Curl("PUT", port, path);
    std::string file = scratch_.Write(absl::StrCat("body-", ++bodies_, ".json"), body);
    return Curl("PUT", port, path, file);
  }

  json GetJson(uint16_t port, const std::string& path) {
    CurlReply r = Curl("GET", port, path);
    return json::parse(r.body, nullptr, false);
  }

  // The output of `svcdns members --http-addr <server>`, or "" on failure.
  std::string Members(uint16_t http_port) {
    std::string out;
    int rc = ServerProcess::RunToExit(
        {"members", "--http-addr", absl::StrCat("127.0.0.1:", http_port)}, &out);
    return rc == 0 ? out : "";
  }

  // The Status column of `node`'s row in `svcdns members`, or "".
  std::string MemberStatus(uint16_t http_port, const std::string& node) {
    for (absl::string_view line : absl::StrSplit(Members(http_port), '\n')) {
      std::vector<std::string> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (cols.size() >= 3 && cols[0] == node) return cols[2];
    }
    return "";
  }

  bool EventuallyMember(uint16_t http_port, const std::string& node, const std::string& status,
                        int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      if (MemberStatus(http_port, node) == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return MemberStatus(http_port, node) == status;
  }

  std::unique_ptr<ServerProcess> server_;
  uint16_t dns_port_ = 0;
  TempDir scratch_;  // bodies, code files
  int bodies_ = 0;
};

// Two agents on two nodes, each with a definition directory, both answered.
TEST_F(AgentTest, TwoAgentsStreamTheirDefinitionsIntoServe) {
  StartServer();
  TempDir conf1, conf2;
  conf1.Write("web.json", DefinitionFile({{"name", "web"}, {"id", "web-a"}, {"port", 8080},
                                          {"tags", {"v1"}}}));
  conf1.Write("db.json", DefinitionFile({{"name", "db"}, {"port", 5432},
                                         {"address", "10.20.9.9"}}));
  conf2.Write("web.json", DefinitionFile({{"name", "web"}, {"id", "web-b"}, {"port", 8081},
                                          {"tags", {"v2"}}}));
  auto a1 = StartAgent({.node = "n1", .advertise = "10.20.0.1", .config_dir = conf1.path()});
  auto a2 = StartAgent({.node = "n2", .advertise = "10.20.0.2", .config_dir = conf2.path()});
  ASSERT_TRUE(a1 && a2);
  EXPECT_TRUE(Eventually("web.service.consul", {"10.20.0.1", "10.20.0.2"}, 8000))
      << a1->Log() << a2->Log();
  EXPECT_EQ(Srv("web.service.consul"),
            (std::vector<std::string>{"1 1 8080 n1.node.dc1.consul.", "1 1 8081 n2.node.dc1.consul."}));
  EXPECT_EQ(A("v2.web.service.consul"), Addrs{"10.20.0.2"});
  EXPECT_EQ(A("db.service.consul"), Addrs{"10.20.9.9"});
  EXPECT_EQ(A("n1.node.consul"), Addrs{"10.20.0.1"});
  EXPECT_EQ(A("n2.node.consul"), Addrs{"10.20.0.2"});
  // The server's catalog knows both nodes; each agent's own API has its services.
  json nodes = GetJson(server_->http_port(), "/v1/catalog/nodes");
  ASSERT_TRUE(nodes.is_array());
  EXPECT_EQ(nodes.size(), 2u) << nodes.dump();
  json services = GetJson(a1->http_port(), "/v1/agent/services");
  EXPECT_TRUE(services.contains("web-a") && services.contains("db")) << services.dump();
  EXPECT_FALSE(services.contains("web-b"));
}

// Exit 0 passing, 1 warning (still served), 2 critical (left out).
TEST_F(AgentTest, ScriptCheckFollowsTheExitCode) {
  StartServer();
  TempDir conf;
  std::string code = scratch_.Write("code", "0\n");
  conf.Write("web.json", DefinitionFile({{"name", "web"}, {"port", 80},
                                         {"check", ScriptCheck(code)}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.1.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("web.service.consul", {"10.20.1.1"}, 5000)) << agent->Log();
  WriteFile(code, "2\n");
  EXPECT_TRUE(Eventually("web.service.consul", {}, 3000)) << agent->Log();
  json checks = GetJson(agent->http_port(), "/v1/agent/checks");
  EXPECT_EQ(checks["service:web"]["Status"], "critical") << checks.dump();
  WriteFile(code, "1\n");
  EXPECT_TRUE(Eventually("web.service.consul", {"10.20.1.1"}, 3000)) << agent->Log();
  checks = GetJson(agent->http_port(), "/v1/agent/checks");
  EXPECT_EQ(checks["service:web"]["Status"], "warning") << checks.dump();
  WriteFile(code, "2\n");
  EXPECT_TRUE(Eventually("web.service.consul", {}, 3000));
  WriteFile(code, "0\n");
  EXPECT_TRUE(Eventually("web.service.consul", {"10.20.1.1"}, 3000));
  checks = GetJson(agent->http_port(), "/v1/agent/checks");
  EXPECT_EQ(checks["service:web"]["Status"], "passing") << checks.dump();
}

TEST_F(AgentTest, HttpCheckFollowsTheProbedServer) {
  StartServer();
  TinyHttpServer target;
  ASSERT_TRUE(target.Start());
  TempDir conf;
  conf.Write("api.json", DefinitionFile(
      {{"name", "api"}, {"port", 9000},
       {"check", {{"http", absl::StrCat("http://127.0.0.1:", target.port(), "/health")},
                  {"interval", "200ms"}, {"timeout", "1s"}}}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.2.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("api.service.consul", {"10.20.2.1"}, 5000)) << agent->Log();
  EXPECT_GT(target.requests(), 0);
  uint16_t port = target.port();
  target.Stop();
  EXPECT_TRUE(Eventually("api.service.consul", {}, 3000)) << agent->Log();
  ASSERT_TRUE(target.Start(port));
  EXPECT_TRUE(Eventually("api.service.consul", {"10.20.2.1"}, 3000)) << agent->Log();
}

TEST_F(AgentTest, TcpCheckFollowsTheListeningSocket) {
  StartServer();
  TinyHttpServer target;
  ASSERT_TRUE(target.Start());
  TempDir conf;
  conf.Write("redis.json", DefinitionFile(
      {{"name", "redis"}, {"port", 6379},
       {"check", {{"tcp", absl::StrCat("127.0.0.1:", target.port())},
                  {"interval", "200ms"}, {"timeout", "1s"}}}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.3.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("redis.service.consul", {"10.20.3.1"}, 5000)) << agent->Log();
  uint16_t port = target.port();
  target.Stop();
  EXPECT_TRUE(Eventually("redis.service.consul", {}, 3000)) << agent->Log();
  ASSERT_TRUE(target.Start(port));
  EXPECT_TRUE(Eventually("redis.service.consul", {"10.20.3.1"}, 3000)) << agent->Log();
}

TEST_F(AgentTest, TtlCheckExpiresAndIsRefreshedThroughTheApi) {
  StartServer();
  TempDir conf;
  conf.Write("job.json", DefinitionFile(
      {{"name", "job"}, {"port", 1}, {"check", {{"id", "job-ttl"}, {"ttl", "1s"}}}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.4.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  // Critical until the first pass.
  ASSERT_TRUE(agent->proc().WaitForLog("event=joined", 5000)) << agent->Log();
  EXPECT_EQ(A("job.service.consul"), Addrs{});
  CurlReply pass = Put(agent->http_port(), "/v1/agent/check/pass/job-ttl?note=fine");
  EXPECT_EQ(pass.status, 200) << pass.body;
  auto passed = Clock::now();
  EXPECT_TRUE(Eventually("job.service.consul", {"10.20.4.1"}, 2000));
  json checks = GetJson(agent->http_port(), "/v1/agent/checks");
  EXPECT_EQ(checks["job-ttl"]["Status"], "passing") << checks.dump();
  EXPECT_EQ(checks["job-ttl"]["Output"], "fine") << checks.dump();
  // Not refreshed: gone once the TTL has run out, and not before.
  EXPECT_TRUE(Eventually("job.service.consul", {}, 4000)) << agent->Log();
  EXPECT_GE(MsSince(passed), 900);
  checks = GetJson(agent->http_port(), "/v1/agent/checks");
  EXPECT_EQ(checks["job-ttl"]["Status"], "critical");
  EXPECT_TRUE(absl::StrContains(checks["job-ttl"]["Output"].get<std::string>(), "TTL expired"))
      << checks.dump();
  // Refreshed: back; refreshed within the TTL: stays.
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/check/pass/job-ttl").status, 200);
  EXPECT_TRUE(Eventually("job.service.consul", {"10.20.4.1"}, 2000));
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(Put(agent->http_port(), "/v1/agent/check/pass/job-ttl").status, 200);
    EXPECT_EQ(A("job.service.consul"), Addrs{"10.20.4.1"}) << "after " << i;
  }
  // warn keeps it, fail takes it out at once.
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/check/warn/job-ttl").status, 200);
  EXPECT_TRUE(Stays("job.service.consul", {"10.20.4.1"}, 200));
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/check/fail/job-ttl").status, 200);
  EXPECT_TRUE(Eventually("job.service.consul", {}, 1000));
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/check/pass/no-such-check").status, 404);
}

// The server goes away and comes back on the same ports: the agent re-syncs
// (including a change made while the server was gone).
TEST_F(AgentTest, AgentResyncsAfterServerRestart) {
  StartServer();
  uint16_t dns = server_->port(), ingest = server_->ingest_port();
  TempDir conf;
  conf.Write("web.json", DefinitionFile({{"name", "web"}, {"port", 80}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.5.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("web.service.consul", {"10.20.5.1"}, 5000)) << agent->Log();
  server_->Stop();
  server_.reset();
  // While no server is there: the agent keeps retrying and takes registrations.
  ASSERT_TRUE(agent->proc().WaitForLog("event=join_retry", 3000)) << agent->Log();
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/service/register",
                R"({"Name": "late", "Port": 81})").status, 200);
  auto restarted = ServerAt::Start(dns, ingest);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  ASSERT_EQ((*restarted)->port(), dns);
  ASSERT_EQ((*restarted)->ingest_port(), ingest);
  auto started = Clock::now();
  EXPECT_TRUE(Eventually("web.service.consul", {"10.20.5.1"}, 6000)) << agent->Log();
  EXPECT_TRUE(Eventually("late.service.consul", {"10.20.5.1"}, 2000)) << agent->Log();
  EXPECT_LT(MsSince(started), 6000);
  EXPECT_GE(agent_util::CountOf(agent->Log(), "event=joined"), 2) << agent->Log();
}

// kill -9 of one agent: the server goes on, the other agent is unaffected,
// and the killed node's instances leave after --agent-grace.
TEST_F(AgentTest, ServerSurvivesAnAgentKilledWithSigkill) {
  StartServer({"--agent-grace", "1s"});
  TempDir conf1, conf2;
  conf1.Write("web.json", DefinitionFile({{"name", "web"}, {"id", "web1"}, {"port", 80}}));
  conf2.Write("web.json", DefinitionFile({{"name", "web"}, {"id", "web2"}, {"port", 80}}));
  auto a1 = StartAgent({.node = "n1", .advertise = "10.20.6.1", .config_dir = conf1.path()});
  auto a2 = StartAgent({.node = "n2", .advertise = "10.20.6.2", .config_dir = conf2.path()});
  ASSERT_TRUE(a1 && a2);
  ASSERT_TRUE(Eventually("web.service.consul", {"10.20.6.1", "10.20.6.2"}, 8000));
  auto killed = Clock::now();
  a1->Kill9();
  // Within the grace the node is still served.
  Addrs during = A("web.service.consul");
  if (MsSince(killed) < 500) {
    EXPECT_EQ(during, (Addrs{"10.20.6.1", "10.20.6.2"}));
  }
  EXPECT_TRUE(Eventually("web.service.consul", {"10.20.6.2"}, 6000)) << server_->Log();
  EXPECT_GE(MsSince(killed), 900);
  EXPECT_EQ(A("n2.node.consul"), Addrs{"10.20.6.2"});
  EXPECT_EQ(kill(server_->pid(), 0), 0) << "the server died";
  EXPECT_TRUE(EventuallyMember(server_->http_port(), "n1", "failed", 3000))
      << Members(server_->http_port());
  EXPECT_EQ(MemberStatus(server_->http_port(), "n2"), "alive");
  // The surviving agent's changes still flow.
  EXPECT_EQ(Put(a2->http_port(), "/v1/agent/service/register",
                R"({"Name": "after", "Port": 2})").status, 200);
  EXPECT_TRUE(Eventually("after.service.consul", {"10.20.6.2"}, 3000));
  // The killed node's agent comes back: its node is alive and served again.
  a1 = StartAgent({.node = "n1", .advertise = "10.20.6.1", .config_dir = conf1.path()});
  ASSERT_TRUE(a1);
  EXPECT_TRUE(Eventually("web.service.consul", {"10.20.6.1", "10.20.6.2"}, 5000)) << a1->Log();
  EXPECT_TRUE(EventuallyMember(server_->http_port(), "n1", "alive", 3000))
      << Members(server_->http_port());
}

TEST_F(AgentTest, RegistrationThroughTheHttpApiAndTheCli) {
  StartServer();
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.7.1"});
  ASSERT_TRUE(agent);
  // curl -X PUT --data @file /v1/agent/service/register
  CurlReply r = Put(agent->http_port(), "/v1/agent/service/register",
                    R"({"ID": "api-1", "Name": "api", "Port": 7001, "Tags": ["blue"],
                        "Check": {"TTL": "30s", "Status": "passing"}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Eventually("api.service.consul", {"10.20.7.1"}, 3000)) << agent->Log();
  EXPECT_EQ(Srv("blue.api.service.consul"), (std::vector<std::string>{"1 1 7001 n1.node.dc1.consul."}));
  json services = GetJson(agent->http_port(), "/v1/agent/services");
  EXPECT_EQ(services["api-1"]["Service"], "api") << services.dump();
  EXPECT_EQ(services["api-1"]["Port"], 7001);

  // svcdns services register FILE --http-addr
  std::string file = scratch_.Write("cli.json", DefinitionFile(
      {{"name", "cli"}, {"id", "cli-1"}, {"port", 7002}, {"address", "10.20.7.9"}}));
  std::string out;
  EXPECT_EQ(ServerProcess::RunToExit({"services", "register", file, "--http-addr", agent->http_addr()}, &out),
            0) << out;
  EXPECT_TRUE(absl::StrContains(out, "Registered service: cli")) << out;
  EXPECT_TRUE(Eventually("cli.service.consul", {"10.20.7.9"}, 3000));

  // svcdns services deregister -id ID --http-addr
  EXPECT_EQ(ServerProcess::RunToExit(
                {"services", "deregister", "-id", "cli-1", "--http-addr", agent->http_addr()}, &out),
            0) << out;
  EXPECT_TRUE(Eventually("cli.service.consul", {}, 3000));
  EXPECT_NE(ServerProcess::RunToExit(
                {"services", "deregister", "-id", "cli-1", "--http-addr", agent->http_addr()}, &out),
            0);
  EXPECT_TRUE(absl::StrContains(out, "cli-1")) << out;

  // PUT /v1/agent/service/deregister/:id
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/service/deregister/api-1").status, 200);
  EXPECT_TRUE(Eventually("api.service.consul", {}, 3000));
  EXPECT_EQ(GetJson(agent->http_port(), "/v1/agent/services"), json::object());
}

// --data-dir: what was registered through the API comes back after a restart
// (and what was deregistered does not).
TEST_F(AgentTest, ApiRegistrationsPersistAcrossAnAgentRestart) {
  StartServer();
  TempDir data;
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.8.1", .data_dir = data.path()});
  ASSERT_TRUE(agent);
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/service/register",
                R"({"ID": "keep", "Name": "keep", "Port": 1})").status, 200);
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/service/register",
                R"({"ID": "drop", "Name": "drop", "Port": 2})").status, 200);
  EXPECT_EQ(Put(agent->http_port(), "/v1/agent/service/deregister/drop").status, 200);
  ASSERT_TRUE(Eventually("keep.service.consul", {"10.20.8.1"}, 3000));
  EXPECT_TRUE(std::filesystem::exists(data.path() + "/agent-services.json"));
  agent->Stop();  // leaves: the node goes at once
  EXPECT_TRUE(Eventually("keep.service.consul", {}, 3000));
  agent = StartAgent({.node = "n1", .advertise = "10.20.8.1", .data_dir = data.path()});
  ASSERT_TRUE(agent);
  EXPECT_TRUE(Eventually("keep.service.consul", {"10.20.8.1"}, 5000)) << agent->Log();
  EXPECT_EQ(A("drop.service.consul"), Addrs{});
  json services = GetJson(agent->http_port(), "/v1/agent/services");
  EXPECT_TRUE(services.contains("keep")) << services.dump();
  EXPECT_FALSE(services.contains("drop")) << services.dump();
  EXPECT_TRUE(absl::StrContains(agent->Log(), "event=registrations_restored count=1")) << agent->Log();
}

// A broken file in --config-dir: `svcdns agent` and `svcdns validate` fail,
// naming the file and the field.
TEST_F(AgentTest, MalformedDefinitionFilesAreRejectedNamingFileAndField) {
  struct Case {
    std::string body;
    std::vector<std::string> expected;  // substrings of the message
  };
  std::vector<Case> cases = {
      {R"({"service": {"name": "web", "port": 99999}})", {"port", "99999", "out of range"}},
      {R"({"service": {"name": "web", "check": {"args": ["/bin/true"]}}})",
       {"check.interval", "missing"}},
      {R"({"service": {"name": "web", "check": {"http": "ftp://x", "interval": "1s"}}})",
       {"check.http", "ftp://x"}},
      {R"({"service": {"port": 80}})", {"name is missing"}},
      {R"({"service": {"name": "web", "port": 80,)", {"not valid JSON"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    TempDir conf;
    conf.Write("good.json", DefinitionFile({{"name", "ok"}, {"port", 1}}));
    conf.Write("broken.json", c.body);
    std::string out;
    int rc = ServerProcess::RunToExit({"agent", "--node", "n1", "--config-dir", conf.path(),
                                       "--http-addr", "127.0.0.1:0", "--join", "127.0.0.1:1"},
                                      &out);
    EXPECT_NE(rc, 0) << out;
    EXPECT_TRUE(absl::StrContains(out, conf.path() + "/broken.json")) << out;
    for (const std::string& e : c.expected) EXPECT_TRUE(absl::StrContains(out, e)) << e << " in " << out;
    rc = ServerProcess::RunToExit({"validate", conf.path()}, &out);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_TRUE(absl::StrContains(out, "broken.json")) << out;
    for (const std::string& e : c.expected) EXPECT_TRUE(absl::StrContains(out, e)) << e << " in " << out;
  }
  TempDir good;
  good.Write("a.json", DefinitionFile({{"name", "a"}, {"port", 1}}));
  std::string out;
  EXPECT_EQ(ServerProcess::RunToExit({"validate", good.path()}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "Configuration is valid")) << out;
}

// Bad bodies: HTTP 400 naming the field, and nothing registered.
TEST_F(AgentTest, BadRegistrationBodiesAreRefusedWith400) {
  StartServer();
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.9.1"});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->proc().WaitForLog("event=joined", 5000)) << agent->Log();
  struct Case {
    std::string body;
    std::vector<std::string> expected;
  };
  std::vector<Case> cases = {
      {R"({"Name": "web", "Port": 99999})", {"Port", "99999"}},
      {R"({"Port": 99999})", {"name"}},
      {R"({"Port": 80})", {"name is missing"}},
      {R"({"Name": "web", "Port": "80"})", {"Port", "must be an integer"}},
      {R"({"Name": "web", "Check": {"HTTP": "http://127.0.0.1:1/"}})", {"Check.", "interval", "missing"}},
      {R"({"Name": "web", "Port": 80)", {"not valid JSON"}},
      {R"({"Name": "no_dots.here", "Port": 80})", {"no_dots.here", "Name", "DNS label"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    CurlReply r = Put(agent->http_port(), "/v1/agent/service/register", c.body);
    EXPECT_EQ(r.status, 400) << r.body;
    for (const std::string& e : c.expected) EXPECT_TRUE(absl::StrContains(r.body, e)) << e << " in " << r.body;
  }
  EXPECT_EQ(GetJson(agent->http_port(), "/v1/agent/services"), json::object());
  EXPECT_EQ(A("web.service.consul"), Addrs{});
  json catalog = GetJson(server_->http_port(), "/v1/catalog/services");
  EXPECT_FALSE(catalog.contains("web")) << catalog.dump();
  // The CLI refuses a bad file before asking the agent, naming file and field.
  std::string file = scratch_.Write("bad.json", R"({"service": {"name": "web", "port": 99999}})");
  std::string out;
  EXPECT_NE(ServerProcess::RunToExit({"services", "register", file, "--http-addr", agent->http_addr()}, &out),
            0);
  EXPECT_TRUE(absl::StrContains(out, "bad.json") && absl::StrContains(out, "port")) << out;
  EXPECT_EQ(GetJson(agent->http_port(), "/v1/agent/services"), json::object());
}

// Fields' own comment (agent/service_definition.cc) promises messages that
// spell a key "as the document spelled it"; a CamelCase API body should be
// answered with "Name: ...", "Check.HTTP: ...".
TEST_F(AgentTest, RegistrationErrorsSpellTheFieldAsTheBodyDoes) {
  StartServer();
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.13.1"});
  ASSERT_TRUE(agent);
  struct Case {
    std::string body;
    std::string expected;
  };
  std::vector<Case> cases = {
      {R"({"Name": "no_dots.here"})", "Name: is not a DNS label"},
      {R"({"Name": "web", "Address": "not-an-ip"})", "Address: \"not-an-ip\""},
      {R"({"Name": "web", "Check": {"HTTP": "ftp://x", "Interval": "1s"}})", "Check.HTTP: \"ftp://x\""},
      {R"({"Name": "web", "Check": {"TTL": "10s", "Timeout": "0s"}})", "Check.Timeout: must be positive"},
  };
  std::vector<std::string> wrong;
  for (const Case& c : cases) {
    CurlReply r = Put(agent->http_port(), "/v1/agent/service/register", c.body);
    EXPECT_EQ(r.status, 400) << r.body;
    if (!absl::StrContains(r.body, c.expected)) wrong.push_back(r.body);
  }
  EXPECT_TRUE(wrong.empty()) << absl::StrJoin(wrong, " | ");
}

TEST_F(AgentTest, ReloadPicksUpAddedAndRemovedDefinitionFiles) {
  StartServer();
  TempDir conf;
  conf.Write("alpha.json", DefinitionFile({{"name", "alpha"}, {"port", 1}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.10.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("alpha.service.consul", {"10.20.10.1"}, 5000)) << agent->Log();
  EXPECT_EQ(A("beta.service.consul"), Addrs{});
  conf.Write("beta.json", DefinitionFile({{"name", "beta"}, {"port", 2}}));
  std::string out;
  EXPECT_EQ(ServerProcess::RunToExit({"reload", "--http-addr", agent->http_addr()}, &out), 0) << out;
  EXPECT_TRUE(Eventually("beta.service.consul", {"10.20.10.1"}, 3000)) << agent->Log();
  // A broken file: reload fails naming it, the running services stay.
  conf.Write("broken.json", R"({"service": {"name": "gamma", "port": -1}})");
  EXPECT_NE(ServerProcess::RunToExit({"reload", "--http-addr", agent->http_addr()}, &out), 0);
  EXPECT_TRUE(absl::StrContains(out, "broken.json")) << out;
  EXPECT_TRUE(Stays("beta.service.consul", {"10.20.10.1"}, 200));
  std::filesystem::remove(conf.path() + "/broken.json");
  std::filesystem::remove(conf.path() + "/alpha.json");
  EXPECT_EQ(ServerProcess::RunToExit({"reload", "--http-addr", agent->http_addr()}, &out), 0) << out;
  EXPECT_TRUE(Eventually("alpha.service.consul", {}, 3000));
  EXPECT_EQ(A("beta.service.consul"), Addrs{"10.20.10.1"});
}

// A reload that changes only how a check probes (its args here) must restart
// the check with the new definition, as Consul's reload does.
TEST_F(AgentTest, ReloadRestartsACheckWhoseProbeChanged) {
  StartServer();
  TempDir conf;
  std::string ok = scratch_.Write("ok", "0\n");
  std::string bad = scratch_.Write("bad", "2\n");
  json check = ScriptCheck(ok);
  check["id"] = "web-check";
  conf.Write("web.json", DefinitionFile({{"name", "web"}, {"port", 80}, {"check", check}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.14.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("web.service.consul", {"10.20.14.1"}, 5000)) << agent->Log();
  check = ScriptCheck(bad);  // same id, name and service: only args differ
  check["id"] = "web-check";
  conf.Write("web.json", DefinitionFile({{"name", "web"}, {"port", 80}, {"check", check}}));
  std::string out;
  ASSERT_EQ(ServerProcess::RunToExit({"reload", "--http-addr", agent->http_addr()}, &out), 0) << out;
  // The new probe (exit 2) replaces the old one: the instance goes.
  EXPECT_TRUE(Eventually("web.service.consul", {}, 3000));
}

// A reload that removes a check from a service that stays must stop the
// check's probe (here a script that appends to a file on every run).
TEST_F(AgentTest, ReloadStopsACheckRemovedFromAKeptService) {
  StartServer();
  TempDir conf;
  std::string runs = scratch_.path() + "/runs";
  json check = {{"id", "counting"},
                {"args", {"/bin/sh", "-c", absl::StrCat("echo x >> '", runs, "'")}},
                {"interval", "100ms"}};
  conf.Write("web.json", DefinitionFile({{"name", "web"}, {"port", 80}, {"check", check}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.15.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("web.service.consul", {"10.20.15.1"}, 5000)) << agent->Log();
  conf.Write("web.json", DefinitionFile({{"name", "web"}, {"port", 80}}));
  std::string out;
  ASSERT_EQ(ServerProcess::RunToExit({"reload", "--http-addr", agent->http_addr()}, &out), 0) << out;
  EXPECT_TRUE(Stays("web.service.consul", {"10.20.15.1"}, 300));
  json checks = GetJson(agent->http_port(), "/v1/agent/checks");
  EXPECT_FALSE(checks.contains("counting")) << checks.dump();
  auto size = [&] {
    std::error_code ec;
    auto n = std::filesystem::file_size(runs, ec);
    return ec ? 0 : n;
  };
  auto before = size();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  auto after = size();
  EXPECT_EQ(after, before) << "the removed check's script still runs";
}

TEST_F(AgentTest, MembersListsTheAgentAliveThenLeft) {
  StartServer();
  auto agent = StartAgent({.node = "member-1", .advertise = "10.20.11.1"});
  ASSERT_TRUE(agent);
  EXPECT_TRUE(EventuallyMember(server_->http_port(), "member-1", "alive", 5000))
      << Members(server_->http_port());
  std::string table = Members(server_->http_port());
  EXPECT_TRUE(absl::StrContains(table, "10.20.11.1")) << table;
  int status = agent->Stop();  // SIGTERM: leave
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << agent->Log();
  EXPECT_TRUE(EventuallyMember(server_->http_port(), "member-1", "left", 3000))
      << Members(server_->http_port());
  EXPECT_EQ(A("member-1.node.consul"), Addrs{});
}

// deregister_critical_service_after "1s" (Consul's minimum is 1m; ours
// allows short values): a service critical for longer is deregistered.
TEST_F(AgentTest, DeregisterCriticalServiceAfterRemovesTheService) {
  StartServer();
  TempDir conf;
  std::string code = scratch_.Write("code", "0\n");
  json check = ScriptCheck(code);
  check["deregister_critical_service_after"] = "1s";
  conf.Write("web.json", DefinitionFile({{"name", "web"}, {"port", 80}, {"check", check}}));
  conf.Write("other.json", DefinitionFile({{"name", "other"}, {"port", 81}}));
  auto agent = StartAgent({.node = "n1", .advertise = "10.20.12.1", .config_dir = conf.path()});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(Eventually("web.service.consul", {"10.20.12.1"}, 5000)) << agent->Log();
  // Critical for less than the limit: kept.
  WriteFile(code, "2\n");
  ASSERT_TRUE(Eventually("web.service.consul", {}, 3000));
  WriteFile(code, "0\n");
  ASSERT_TRUE(Eventually("web.service.consul", {"10.20.12.1"}, 3000));
  EXPECT_FALSE(absl::StrContains(agent->Log(), "event=service_deregistered"));
  // Critical for longer: deregistered, and a passing probe does not bring it back.
  WriteFile(code, "2\n");
  auto critical = Clock::now();
  ASSERT_TRUE(Eventually("web.service.consul", {}, 3000));
  ASSERT_TRUE(agent->proc().WaitForLog("event=service_deregistered service=web", 5000))
      << agent->Log();
  EXPECT_GE(MsSince(critical), 900);
  json services = GetJson(agent->http_port(), "/v1/agent/services");
  EXPECT_FALSE(services.contains("web")) << services.dump();
  EXPECT_TRUE(services.contains("other")) << services.dump();
  WriteFile(code, "0\n");
  EXPECT_TRUE(Stays("web.service.consul", {}, 600));
  json catalog = GetJson(server_->http_port(), "/v1/catalog/services");
  EXPECT_FALSE(catalog.contains("web")) << catalog.dump();
  EXPECT_TRUE(catalog.contains("other")) << catalog.dump();
}

}  // namespace
}  // namespace svcdns::testing
