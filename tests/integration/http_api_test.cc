// The read-only HTTP API of `svcdns serve`, asked with the curl command as
// Consul clients would, including blocking queries woken by agent streams.
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/agent_stream.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

struct HttpResult {
  int status = 0;
  uint64_t index = 0;
  nlohmann::json body;
};

// The output of curl with `flags` for the path.
std::string Curl(uint16_t port, const std::string& path, const std::string& flags = "") {
  std::string cmd = "curl -s --max-time 20 " + flags + " 'http://127.0.0.1:" +
                    std::to_string(port) + path + "'";
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

// GET with curl; headers parsed for the status and X-Consul-Index.
HttpResult Get(uint16_t port, const std::string& path) {
  std::string out = Curl(port, path, "-i");
  HttpResult r;
  size_t sp = out.find(' ');
  if (sp != std::string::npos) r.status = std::atoi(out.c_str() + sp + 1);
  size_t idx = out.find("X-Consul-Index: ");
  if (idx != std::string::npos) {
    size_t end = out.find('\r', idx);
    (void)absl::SimpleAtoi(out.substr(idx + 16, end - idx - 16), &r.index);
  }
  size_t body = out.find("\r\n\r\n");
  if (body != std::string::npos) {
    r.body = nlohmann::json::parse(out.substr(body + 4), nullptr, false);
  }
  return r;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start(
        {"--config-dir", SourceDir() + "/deploy/examples/services", "--node", "demo"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->http_port(), 0);
  }
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(HttpApiTest, CatalogEndpointsAreConsulShaped) {
  HttpResult services = Get(server_->http_port(), "/v1/catalog/services");
  EXPECT_EQ(services.status, 200);
  EXPECT_GT(services.index, 0u);
  EXPECT_EQ(services.body["web"], nlohmann::json({"v1", "v2"}));
  EXPECT_EQ(services.body["redis"], nlohmann::json({"primary"}));

  HttpResult web = Get(server_->http_port(), "/v1/catalog/service/web?tag=v2");
  ASSERT_EQ(web.body.size(), 1u);
  EXPECT_EQ(web.body[0]["ServiceID"], "web2");
  EXPECT_EQ(web.body[0]["ServicePort"], 9080);
  EXPECT_EQ(web.body[0]["Node"], "demo");
  EXPECT_EQ(web.body[0]["Address"], "127.0.0.1");

  HttpResult nodes = Get(server_->http_port(), "/v1/catalog/nodes");
  ASSERT_EQ(nodes.body.size(), 1u);
  EXPECT_EQ(nodes.body[0]["Node"], "demo");

  HttpResult health = Get(server_->http_port(), "/v1/health/service/web?passing");
  ASSERT_EQ(health.body.size(), 2u);
  EXPECT_EQ(health.body[0]["Service"]["Service"], "web");
  EXPECT_EQ(health.body[0]["Checks"][0]["CheckID"], "serfHealth");

  HttpResult self = Get(server_->http_port(), "/v1/agent/self");
  EXPECT_EQ(self.body["Config"]["Datacenter"], "dc1");
  EXPECT_EQ(self.body["Config"]["NodeName"], "demo");
  EXPECT_EQ(Get(server_->http_port(), "/v1/status/leader").status, 200);

  HttpResult members = Get(server_->http_port(), "/v1/agent/members");
  ASSERT_EQ(members.body.size(), 1u);
  EXPECT_EQ(members.body[0]["StatusText"], "alive");
  EXPECT_EQ(Get(server_->http_port(), "/v1/nope").status, 404);
}

TEST_F(HttpApiTest, PassingFilterFollowsChecks) {
  AgentStream agent(server_->ingest_port());
  ASSERT_TRUE(agent.Register("agent1", "10.9.0.1", {ServiceProto("api1", "api", 80), ServiceProto("api2", "api", 81)},
                             {CheckProto("c1", "api1", v1::HEALTH_STATUS_PASSING),
                              CheckProto("c2", "api2", v1::HEALTH_STATUS_WARNING)}));
  EXPECT_EQ(Get(server_->http_port(), "/v1/health/service/api").body.size(), 2u);
  HttpResult passing = Get(server_->http_port(), "/v1/health/service/api?passing");
  ASSERT_EQ(passing.body.size(), 1u);
  EXPECT_EQ(passing.body[0]["Service"]["ID"], "api1");
  HttpResult checks = Get(server_->http_port(), "/v1/health/checks/api");
  EXPECT_EQ(checks.body.size(), 2u);
  HttpResult node = Get(server_->http_port(), "/v1/health/node/agent1");
  EXPECT_EQ(node.body.size(), 3u);  // serfHealth + two
  HttpResult members = Get(server_->http_port(), "/v1/agent/members");
  EXPECT_EQ(members.body.size(), 2u);
}

TEST_F(HttpApiTest, BlockingQueryWakesOnChange) {
  uint64_t index = Get(server_->http_port(), "/v1/catalog/services").index;
  auto started = std::chrono::steady_clock::now();
  auto waiting = std::async(std::launch::async, [&] {
    return Get(server_->http_port(), "/v1/health/service/api?index=" + std::to_string(index) + "&wait=15s");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  AgentStream agent(server_->ingest_port());
  auto registered = std::chrono::steady_clock::now();
  ASSERT_TRUE(agent.Register("agent1", "10.9.0.1", {ServiceProto("api1", "api", 80)}));
  HttpResult woken = waiting.get();
  // Hello and Sync may land in two publications: follow as a watcher does.
  for (int i = 0; i < 3 && woken.body.empty(); ++i) {
    woken = Get(server_->http_port(),
                "/v1/health/service/api?index=" + std::to_string(woken.index) + "&wait=15s");
  }
  auto elapsed = std::chrono::steady_clock::now() - registered;
  EXPECT_LT(elapsed, std::chrono::seconds(2));  // woken by the change, not the wait
  EXPECT_GT(woken.index, index);
  ASSERT_EQ(woken.body.size(), 1u);
  EXPECT_EQ(woken.body[0]["Service"]["ID"], "api1");
  (void)started;
}

TEST_F(HttpApiTest, BlockingQueryEndsAtItsWait) {
  uint64_t index = Get(server_->http_port(), "/v1/catalog/services").index;
  auto started = std::chrono::steady_clock::now();
  HttpResult r = Get(server_->http_port(), "/v1/catalog/services?index=" + std::to_string(index) + "&wait=1s");
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.index, index);
  EXPECT_GE(elapsed, std::chrono::milliseconds(950));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

}  // namespace
}  // namespace svcdns::testing

namespace svcdns::testing {
namespace {

TEST_F(HttpApiTest, MembersCommandPrintsATable) {
  AgentStream agent(server_->ingest_port());
  ASSERT_TRUE(agent.Register("agent1", "10.9.0.1", {ServiceProto("api1", "api", 80)}));
  std::string out;
  int code = ServerProcess::RunToExit(
      {"members", "--http-addr", "127.0.0.1:" + std::to_string(server_->http_port())}, &out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("Node"), std::string::npos) << out;
  EXPECT_NE(out.find("agent1"), std::string::npos) << out;
  EXPECT_NE(out.find("10.9.0.1"), std::string::npos) << out;
  EXPECT_NE(out.find("alive"), std::string::npos) << out;
  EXPECT_NE(ServerProcess::RunToExit({"members", "--http-addr", "127.0.0.1:1"}, &out), 0);
  EXPECT_NE(out.find("svcdns:"), std::string::npos) << out;
}

TEST(KeygenTest, PrintsBase64Of32Bytes) {
  std::string a, b;
  ASSERT_EQ(ServerProcess::RunToExit({"keygen"}, &a), 0);
  ASSERT_EQ(ServerProcess::RunToExit({"keygen"}, &b), 0);
  EXPECT_EQ(a.size(), 45u);  // 44 base64 characters and a newline
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace svcdns::testing

namespace svcdns::testing {
namespace {

TEST_F(HttpApiTest, MetricsCountQueriesAndStreams) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Query("127.0.0.1", server_->port(), "web.service.consul", LDNS_RR_TYPE_SRV).ok());
  }
  QueryOptions tcp;
  tcp.tcp = true;
  ASSERT_TRUE(Query("127.0.0.1", server_->port(), "nope.service.consul", LDNS_RR_TYPE_A, tcp).ok());
  AgentStream agent(server_->ingest_port());
  ASSERT_TRUE(agent.Register("agent1", "10.9.0.1", {ServiceProto("api1", "api", 80)}));
  std::string metrics = Curl(server_->http_port(), "/metrics");
  EXPECT_NE(metrics.find("# TYPE svcdns_dns_responses_total counter"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("svcdns_dns_responses_total{transport=\"udp\",rcode=\"NOERROR\"} 3"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("svcdns_dns_responses_total{transport=\"tcp\",rcode=\"NXDOMAIN\"} 1"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("svcdns_dns_queries_by_type_total{qtype=\"SRV\"} 3"), std::string::npos);
  EXPECT_NE(metrics.find("svcdns_ingest_streams 2"), std::string::npos) << metrics;  // + the local agent
  EXPECT_NE(metrics.find("svcdns_snapshot_instances 14"), std::string::npos) << metrics;
}

}  // namespace
}  // namespace svcdns::testing

namespace svcdns::testing {
namespace {

TEST(MetricsTest, AckLatencyHttpRequestsAndSampledQueryLog) {
  auto server = ServerProcess::Start({"--config-dir", SourceDir() + "/deploy/examples/services",
                                      "--node", "demo", "--query-log-sample", "2"});
  ASSERT_TRUE(server.ok()) << server.status();
  uint16_t http = (*server)->http_port();
  // Each of the 2 workers logs one in two of its queries: 8 queries give 3
  // or 4 lines, however SO_REUSEPORT spreads them.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(Query("127.0.0.1", (*server)->port(), "WEB.service.consul", LDNS_RR_TYPE_SRV).ok());
  }
  EXPECT_TRUE((*server)->WaitForLog("event=query transport=udp qname=web.service.consul.", 3, 5000))
      << (*server)->Log();
  EXPECT_FALSE((*server)->WaitForLog("event=query", 5, 300));
  AgentStream agent((*server)->ingest_port());
  ASSERT_TRUE(agent.Register("agent1", "10.9.0.1", {ServiceProto("api1", "api", 80)}));
  Get(http, "/v1/catalog/services");
  Get(http, "/v1/health/service/web");
  std::string metrics = Curl(http, "/metrics");
  // Two Syncs acknowledged: the server's own node (--config-dir) and agent1.
  EXPECT_NE(metrics.find("svcdns_ingest_ack_latency_seconds_count 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("svcdns_ingest_ack_latency_seconds_bucket{le=\"+Inf\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("svcdns_http_requests_total{endpoint=\"/v1/catalog/services\",code=\"200\"} 1"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("svcdns_http_requests_total{endpoint=\"/v1/health/service/:name\",code=\"200\"} 1"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("svcdns_dns_recursor_failures_total 0"), std::string::npos);
}

}  // namespace
}  // namespace svcdns::testing
