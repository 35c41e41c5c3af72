// What `svcdns serve` and `svcdns validate` say about broken input, and the
// clean start and stop of a server.
#include <signal.h>
#include <sys/wait.h>

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

}  // namespace
}  // namespace svcdns::testing::integration
