// What `svcdns serve` and `svcdns validate` say about broken input, and the
// clean start and stop of a server.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

namespace svcdns::testing::integration {
namespace {

using ::testing::HasSubstr;

// A directory of good definitions plus one whose port is a string.
class BrokenDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CopyDir(ExampleServicesDir(), dir_.path());
    broken_ = dir_.Write("zz-broken.json", R"json({
  "service": {"name": "api", "port": "eighty"}
})json");
  }
  TempDir dir_;
  std::string broken_;
};

TEST_F(BrokenDirTest, ServeExitsNamingFileAndField) {
  std::string output;
  int code = ServerProcess::RunToExit({"serve", "--dns-addr", "127.0.0.1:0", "--config-dir",
                                       dir_.path(), "--node", "demo"},
                                      &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, -1) << "did not exit: " << output;
  EXPECT_THAT(output, HasSubstr("zz-broken.json"));
  EXPECT_THAT(output, HasSubstr("port"));
  EXPECT_THAT(output, ::testing::Not(HasSubstr("event=listening")));
}

TEST_F(BrokenDirTest, ValidateExitsNamingFileAndField) {
  std::string output;
  int code = ServerProcess::RunToExit({"validate", dir_.path()}, &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, -1) << "did not exit: " << output;
  EXPECT_THAT(output, HasSubstr("zz-broken.json"));
  EXPECT_THAT(output, HasSubstr("port"));
}

TEST(StartupTest, InvalidJsonNamesTheFile) {
  TempDir dir;
  dir.Write("bad.json", "{\"service\": {\"name\": \"x\", ");
  std::string output;
  EXPECT_NE(ServerProcess::RunToExit({"validate", dir.path()}, &output), 0);
  EXPECT_THAT(output, HasSubstr("bad.json"));
  EXPECT_NE(ServerProcess::RunToExit({"serve", "--dns-addr", "127.0.0.1:0", "--config-dir",
                                      dir.path()},
                                     &output),
            0);
  EXPECT_THAT(output, HasSubstr("bad.json"));
}

TEST(StartupTest, MissingNameNamesTheField) {
  TempDir dir;
  dir.Write("noname.json", R"json({"service": {"port": 80}})json");
  std::string output;
  EXPECT_NE(ServerProcess::RunToExit({"validate", dir.path()}, &output), 0);
  EXPECT_THAT(output, HasSubstr("noname.json"));
  EXPECT_THAT(output, HasSubstr("name"));
}

TEST(StartupTest, ValidateExamples) {
  std::string output;
  EXPECT_EQ(ServerProcess::RunToExit({"validate", ExampleServicesDir()}, &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("valid"));
}

TEST(StartupTest, BrokenCatalogFile) {
  TempDir dir;
  std::string path = dir.Write("catalog.json", R"json({"nodes": [
    {"node": {"name": "a", "address": "10.0.0.1"},
     "checks": [{"id": "c", "name": "c", "status": "HEALTH_STATUS_BOGUS"}]}]})json");
  std::string output;
  int code = ServerProcess::RunToExit({"serve", "--dns-addr", "127.0.0.1:0", "--catalog", path},
                                      &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, -1) << output;
  EXPECT_THAT(output, HasSubstr("catalog.json"));
}

TEST(StartupTest, BadFlags) {
  std::string output;
  EXPECT_NE(ServerProcess::RunToExit({"serve", "--dns-addr", "127.0.0.1:0", "--config-dir",
                                      "/nonexistent/dir"},
                                     &output),
            0);
  EXPECT_NE(ServerProcess::RunToExit({"serve", "--dns-addr", "nonsense", "--config-dir",
                                      ExampleServicesDir()},
                                     &output),
            0);
  EXPECT_NE(ServerProcess::RunToExit({"serve", "--dns-addr", "127.0.0.1:0", "--config-dir",
                                      ExampleServicesDir(), "--tcp-idle-timeout", "soon"},
                                     &output),
            0);
}

TEST(StartupTest, SigtermStopsCleanly) {
  SVCDNS_START_SERVER(server, {"--config-dir", ExampleServicesDir(), "--node", "demo"});
  SVCDNS_QUERY(r, server->port(), "consul", LDNS_RR_TYPE_SOA);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  int status = server->Stop();
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Each thread of `pid` by name (the main thread as "main") with its
// scheduling policy, from /proc.
std::multimap<std::string, int> ThreadPolicies(pid_t pid) {
  std::multimap<std::string, int> out;
  std::string task_dir = absl::StrCat("/proc/", pid, "/task");
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(task_dir, ec)) {
    std::ifstream comm_file(task.path() / "comm");
    std::ifstream stat_file(task.path() / "stat");
    std::string comm, stat;
    std::getline(comm_file, comm);
    std::getline(stat_file, stat);
    // Fields after the parenthesised name start at field 3; policy is 41.
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 41 && fields >> field; ++i) {
    }
    if (task.path().filename() == std::to_string(pid)) comm = "main";
    out.emplace(comm, std::stoi(field));
  }
  return out;
}

// The control plane (the owner's loop, the ingest thread) must never
// preempt a DNS worker; the workers must not inherit that policy.
TEST(StartupTest, ControlPlaneThreadsRunBatchAndDnsWorkersDoNot) {
  SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog()});  // 2 workers
  std::multimap<std::string, int> policies;
  for (int i = 0; i < 100; ++i) {  // the main thread switches once it is ready
    policies = ThreadPolicies(server->pid());
    auto main = policies.find("main");
    if (main != policies.end() && main->second == SCHED_BATCH) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(policies.count("dns-worker"), 2u);
  for (const auto& [name, policy] : policies) {
    if (name == "main" || name == "ingest") {
      EXPECT_EQ(policy, SCHED_BATCH) << name;
    } else if (name == "dns-worker") {
      EXPECT_EQ(policy, SCHED_OTHER) << name;
    }
  }
  EXPECT_EQ(policies.count("ingest"), 1u);
}

}  // namespace
}  // namespace svcdns::testing::integration
