// SIGHUP reloads while queries keep coming: no query lost, no wrong answer,
// a broken file keeps the old catalog.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

namespace svcdns::testing::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kApi[] = R"json({
  "service": {"name": "api", "port": 7070, "tags": ["rest"]}
})json";

// Missing comma and a port that is a string: whichever the parser sees first.
constexpr char kBroken[] = R"json({
  "service": {"name": "broken", "port": "eighty"}
})json";

uint64_t Serial(uint16_t port) {
  auto r = QueryMt(port, "consul", LDNS_RR_TYPE_SOA);
  return r.ok() ? SoaSerial(**r) : 0;
}

struct LoadResult {
  std::atomic<int> sent{0};
  std::atomic<int> failed{0};      // timeouts, unparseable answers
  std::atomic<int> not_noerror{0};
  std::atomic<int> wrong{0};       // NOERROR but not the expected records
  std::string first_problem;       // written by the load thread only
};

TEST(ReloadTest, SighupUnderLoad) {
  TempDir dir;
  CopyDir(ExampleServicesDir(), dir.path());
  SVCDNS_START_SERVER(server, {"--config-dir", dir.path(), "--node", "demo"});
  uint16_t port = server->port();
  ASSERT_TRUE(server->WaitForLog("event=snapshot_published", 1, 2000));
  uint64_t serial_before = Serial(port);
  ASSERT_GT(serial_before, 0u);
  {
    SVCDNS_QUERY(api, port, "api.service.consul", LDNS_RR_TYPE_SRV);
    EXPECT_EQ(api->rcode(), LDNS_RCODE_NXDOMAIN);
  }

  LoadResult load;
  std::atomic<bool> stop{false};
  std::thread querier([&] {
    QueryOptions options;
    options.timeout_ms = 1000;
    while (!stop.load()) {
      for (int which = 0; which < 2; ++which) {
        const char* name = which == 0 ? "web.service.consul" : "praefect.service.consul";
        ldns_rr_type type = which == 0 ? LDNS_RR_TYPE_SRV : LDNS_RR_TYPE_A;
        ++load.sent;
        auto r = QueryMt(port, name, type, options);
        std::string problem;
        if (!r.ok()) {
          ++load.failed;
          problem = r.status().ToString();
        } else if ((*r)->rcode() != LDNS_RCODE_NOERROR) {
          ++load.not_noerror;
          problem = absl::StrCat(name, " rcode ", (*r)->rcode());
        } else {
          std::vector<std::string> got = (*r)->AnswerRdata(type);
          std::sort(got.begin(), got.end());
          std::vector<std::string> want =
              which == 0 ? std::vector<std::string>{"1 1 8080 demo.node.dc1.consul.",
                                                    "1 1 9080 demo.node.dc1.consul."}
                         : std::vector<std::string>{"127.0.0.1"};
          if (got != want) {
            ++load.wrong;
            problem = absl::StrCat(name, " answered ", absl::StrJoin(got, ", "));
          }
        }
        if (!problem.empty() && load.first_problem.empty()) load.first_problem = problem;
      }
    }
  });

  auto wait_published = [&](int count) {
    return server->WaitForLog("event=snapshot_published", count, 3000);
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // A new definition, two reloads.
  dir.Write("api.json", kApi);
  server->Signal(SIGHUP);
  EXPECT_TRUE(wait_published(2)) << server->Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  {
    auto api = QueryMt(port, "api.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_TRUE(api.ok()) << api.status();
    EXPECT_EQ((*api)->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_THAT((*api)->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 7070 demo.node.dc1.consul."));
  }
  server->Signal(SIGHUP);
  EXPECT_TRUE(wait_published(3)) << server->Log();
  uint64_t serial_after_good = Serial(port);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // A broken file: the reload fails, the old catalog stays.
  dir.Write("broken.json", kBroken);
  server->Signal(SIGHUP);
  EXPECT_TRUE(server->WaitForLog("event=reload_failed", 1, 3000)) << server->Log();
  std::string log = server->Log();
  EXPECT_THAT(log, HasSubstr("broken.json"));
  EXPECT_EQ(Serial(port), serial_after_good);
  {
    auto api = QueryMt(port, "rest.api.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_TRUE(api.ok()) << api.status();
    EXPECT_EQ((*api)->rcode(), LDNS_RCODE_NOERROR);
    auto broken = QueryMt(port, "broken.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_TRUE(broken.ok()) << broken.status();
    EXPECT_EQ((*broken)->rcode(), LDNS_RCODE_NXDOMAIN);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Fixed again: reloads work again.
  std::filesystem::remove(dir.path() + "/broken.json");
  std::filesystem::remove(dir.path() + "/api.json");
  server->Signal(SIGHUP);
  EXPECT_TRUE(wait_published(4)) << server->Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));

  stop = true;
  querier.join();

  EXPECT_GT(load.sent.load(), 20) << "the load thread hardly ran";
  EXPECT_EQ(load.failed.load(), 0) << load.first_problem;
  EXPECT_EQ(load.not_noerror.load(), 0) << load.first_problem;
  EXPECT_EQ(load.wrong.load(), 0) << load.first_problem;

  uint64_t serial_after = Serial(port);
  EXPECT_GT(serial_after_good, serial_before);
  EXPECT_GT(serial_after, serial_after_good);
  {
    SVCDNS_QUERY(api, port, "api.service.consul", LDNS_RR_TYPE_SRV);
    EXPECT_EQ(api->rcode(), LDNS_RCODE_NXDOMAIN) << "api.json was removed and reloaded";
  }
  EXPECT_EQ(server->Stop(), 0) << server->Log();
}

TEST(ReloadTest, CatalogFileReload) {
  TempDir dir;
  std::string path = dir.Write("catalog.json", R"json({"nodes": [
    {"node": {"name": "a", "address": "10.9.0.1"},
     "services": [{"id": "x1", "name": "x", "port": 1}]}]})json");
  SVCDNS_START_SERVER(server, {"--catalog", path});
  {
    SVCDNS_QUERY(r, server->port(), "x.service.consul", LDNS_RR_TYPE_A);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.9.0.1"));
  }
  dir.Write("catalog.json", R"json({"nodes": [
    {"node": {"name": "a", "address": "10.9.0.1"},
     "services": [{"id": "x1", "name": "x", "port": 1}]},
    {"node": {"name": "b", "address": "10.9.0.2"},
     "services": [{"id": "x2", "name": "x", "port": 1}]}]})json");
  server->Signal(SIGHUP);
  ASSERT_TRUE(server->WaitForLog("event=snapshot_published", 2, 3000)) << server->Log();
  {
    SVCDNS_QUERY(r, server->port(), "x.service.consul", LDNS_RR_TYPE_A);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), UnorderedElementsAre("10.9.0.1", "10.9.0.2"));
  }
  dir.Write("catalog.json", "{\"nodes\": [");
  server->Signal(SIGHUP);
  ASSERT_TRUE(server->WaitForLog("event=reload_failed", 1, 3000)) << server->Log();
  {
    SVCDNS_QUERY(r, server->port(), "x.service.consul", LDNS_RR_TYPE_A);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), UnorderedElementsAre("10.9.0.1", "10.9.0.2"));
  }
}

}  // namespace
}  // namespace svcdns::testing::integration
