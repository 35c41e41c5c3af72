// The server as dig sees it (when dig is installed).
#include <stdio.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

namespace svcdns::testing::integration {
namespace {

using ::testing::HasSubstr;

constexpr char kDig[] = "/usr/bin/dig";

std::string RunDig(uint16_t port, const std::string& args) {
  std::string command = absl::StrCat(kDig, " @127.0.0.1 -p ", port, " +time=2 +tries=1 ", args,
                                     " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

TEST(DigTest, ServiceSrvOverUdpAndTcp) {
  if (access(kDig, X_OK) != 0) GTEST_SKIP() << "dig is not installed";
  SVCDNS_START_SERVER(server, {"--config-dir", ExampleServicesDir(), "--node", "demo"});
  for (const char* transport : {"+notcp", "+tcp"}) {
    SCOPED_TRACE(transport);
    std::string out = RunDig(server->port(), absl::StrCat("web.service.consul SRV ", transport));
    EXPECT_THAT(out, HasSubstr("status: NOERROR"));
    EXPECT_THAT(out, HasSubstr("flags: qr aa"));
    EXPECT_THAT(out, HasSubstr(" 8080 demo.node.dc1.consul."));
    EXPECT_THAT(out, HasSubstr(" 9080 demo.node.dc1.consul."));
    EXPECT_THAT(out, HasSubstr("ANSWER: 2,"));
    EXPECT_THAT(out, ::testing::ContainsRegex("demo\\.node\\.dc1\\.consul\\.\\s+0\\s+IN\\s+A\\s+127\\.0\\.0\\.1"));
  }
}

TEST(DigTest, NegativeAndRefused) {
  if (access(kDig, X_OK) != 0) GTEST_SKIP() << "dig is not installed";
  SVCDNS_START_SERVER(server, {"--config-dir", ExampleServicesDir(), "--node", "demo"});
  std::string nx = RunDig(server->port(), "nosuch.service.consul A");
  EXPECT_THAT(nx, HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(nx, HasSubstr("AUTHORITY: 1"));
  EXPECT_THAT(nx, ::testing::ContainsRegex("consul\\.\\s+0\\s+IN\\s+SOA\\s+ns\\.consul\\. hostmaster\\.consul\\."));
  std::string refused = RunDig(server->port(), "example.com A");
  EXPECT_THAT(refused, HasSubstr("status: REFUSED"));
  EXPECT_THAT(refused, ::testing::Not(HasSubstr("flags: qr aa")));
}

}  // namespace
}  // namespace svcdns::testing::integration
