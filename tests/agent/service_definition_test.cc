#include "agent/service_definition.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "catalog/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace svcdns::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

// The text of a status's message, for matchers (which want std::string).
std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

constexpr absl::string_view kFile = "deploy/examples/web.json";

// The error message of parsing `text` as a definition file; "" if it parsed.
std::string ErrorOf(absl::string_view text) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      ParseServiceDefinitions(text, kFile);
  if (defs.ok()) return "";
  EXPECT_EQ(defs.status().code(), absl::StatusCode::kInvalidArgument);
  return Message(defs.status());
}

// The error of a file holding one service whose check is `check`.
std::string CheckErrorOf(absl::string_view check) {
  return ErrorOf(absl::StrCat(R"({"service": {"name": "web", "checks": [)",
                              check, "]}}"));
}

// The error of a file holding the service object `fields` (without braces).
std::string ServiceErrorOf(absl::string_view fields) {
  return ErrorOf(absl::StrCat(R"({"service": {)", fields, "}}"));
}

TEST(ServiceDefinitionTest, ParsesSingleService) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs = ParseServiceDefinitions(
      R"({
        "service": {
          "name": "web",
          "id": "web-1",
          "tags": ["v1", "primary"],
          "address": "10.0.0.5",
          "port": 8080,
          "meta": {"version": "1.2.3", "team": "edge"},
          "weights": {"passing": 10, "warning": 2},
          "enable_tag_override": true,
          "kind": "typical",
          "some_future_key": {"x": 1},
          "check": {
            "id": "web-http",
            "name": "HTTP on 8080",
            "http": "http://10.0.0.5:8080/health",
            "method": "HEAD",
            "header": {"Host": ["web.example"], "X-Probe": ["a", "b"]},
            "tls_skip_verify": true,
            "interval": "10s",
            "timeout": "1s",
            "status": "passing",
            "notes": "the front door",
            "success_before_passing": 2,
            "failures_before_critical": 3,
            "deregister_critical_service_after": "90m"
          }
        }
      })",
      kFile);
  ASSERT_TRUE(defs.ok()) << defs.status();
  ASSERT_EQ(defs->size(), 1u);
  const ServiceDefinition& def = (*defs)[0];
  EXPECT_EQ(def.source, kFile);
  catalog::Service want;
  want.id = "web-1";
  want.name = "web";
  want.tags = {"v1", "primary"};
  want.address = "10.0.0.5";
  want.port = 8080;
  want.meta = {{"version", "1.2.3"}, {"team", "edge"}};
  want.weights = {10, 2};
  EXPECT_EQ(def.service, want);

  ASSERT_EQ(def.checks.size(), 1u);
  const CheckDefinition& check = def.checks[0];
  EXPECT_EQ(check.check.id, "web-http");
  EXPECT_EQ(check.check.name, "HTTP on 8080");
  EXPECT_EQ(check.check.service_id, "web-1");
  EXPECT_EQ(check.check.status, catalog::Health::kPassing);
  EXPECT_EQ(check.check.notes, "the front door");
  EXPECT_EQ(check.kind, CheckKind::kHttp);
  EXPECT_EQ(check.http, "http://10.0.0.5:8080/health");
  EXPECT_EQ(check.method, "HEAD");
  EXPECT_THAT(check.header,
              ElementsAre(Pair("Host", ElementsAre("web.example")),
                          Pair("X-Probe", ElementsAre("a", "b"))));
  EXPECT_TRUE(check.tls_skip_verify);
  EXPECT_EQ(check.interval, absl::Seconds(10));
  EXPECT_EQ(check.timeout, absl::Seconds(1));
  EXPECT_EQ(check.success_before_passing, 2);
  EXPECT_EQ(check.failures_before_critical, 3);
  EXPECT_EQ(check.deregister_critical_service_after, absl::Minutes(90));
}

TEST(ServiceDefinitionTest, AppliesConsulDefaults) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs = ParseServiceDefinitions(
      R"({"service": {"name": "db", "check": {"ttl": "30s"}}})", kFile);
  ASSERT_TRUE(defs.ok()) << defs.status();
  const ServiceDefinition& def = (*defs)[0];
  EXPECT_EQ(def.service.id, "db");
  EXPECT_EQ(def.service.port, 0);
  EXPECT_EQ(def.service.address, "");
  EXPECT_TRUE(def.service.tags.empty());
  EXPECT_TRUE(def.service.meta.empty());
  EXPECT_EQ(def.service.weights, (catalog::Weights{1, 1}));
  ASSERT_EQ(def.checks.size(), 1u);
  const CheckDefinition& check = def.checks[0];
  EXPECT_EQ(check.kind, CheckKind::kTtl);
  EXPECT_EQ(check.ttl, absl::Seconds(30));
  EXPECT_EQ(check.interval, absl::ZeroDuration());
  EXPECT_EQ(check.timeout, absl::Seconds(10));
  EXPECT_EQ(check.method, "GET");
  EXPECT_EQ(check.check.id, "service:db");
  EXPECT_EQ(check.check.name, "Service 'db' check");
  EXPECT_EQ(check.check.service_id, "db");
  EXPECT_EQ(check.check.status, catalog::Health::kCritical);
  EXPECT_EQ(check.deregister_critical_service_after, absl::ZeroDuration());
}

TEST(ServiceDefinitionTest, IdDefaultsToName) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      ParseServiceDefinitions(R"({"service": {"name": "web", "id": ""}})", kFile);
  ASSERT_TRUE(defs.ok()) << defs.status();
  EXPECT_EQ((*defs)[0].service.id, "web");
}

TEST(ServiceDefinitionTest, WeightsDefaultSeparately) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs = ParseServiceDefinitions(
      R"({"services": [{"name": "a", "weights": {"passing": 5}},
                       {"name": "b", "weights": {"warning": 0}},
                       {"name": "c", "weights": {}}]})",
      kFile);
  ASSERT_TRUE(defs.ok()) << defs.status();
  EXPECT_EQ((*defs)[0].service.weights, (catalog::Weights{5, 1}));
  EXPECT_EQ((*defs)[1].service.weights, (catalog::Weights{1, 0}));
  EXPECT_EQ((*defs)[2].service.weights, (catalog::Weights{1, 1}));
}

TEST(ServiceDefinitionTest, ParsesServicesArray) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs = ParseServiceDefinitions(
      R"({"services": [
            {"name": "web", "port": 80},
            {"name": "web", "id": "web-2", "port": 81},
            {"name": "api", "tags": ["v2"]}
          ]})",
      kFile);
  ASSERT_TRUE(defs.ok()) << defs.status();
  ASSERT_EQ(defs->size(), 3u);
  EXPECT_EQ((*defs)[0].service.id, "web");
  EXPECT_EQ((*defs)[0].service.port, 80);
  EXPECT_EQ((*defs)[1].service.id, "web-2");
  EXPECT_EQ((*defs)[1].service.port, 81);
  EXPECT_EQ((*defs)[2].service.name, "api");
  EXPECT_THAT((*defs)[2].service.tags, ElementsAre("v2"));
}

TEST(ServiceDefinitionTest, ServiceAndServicesTogether) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs = ParseServiceDefinitions(
      R"({"service": {"name": "a"}, "services": [{"name": "b"}]})", kFile);
  ASSERT_TRUE(defs.ok()) << defs.status();
  ASSERT_EQ(defs->size(), 2u);
  EXPECT_EQ((*defs)[0].service.name, "a");
  EXPECT_EQ((*defs)[1].service.name, "b");
}

TEST(ServiceDefinitionTest, EmptyServicesArrayIsFine) {
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      ParseServiceDefinitions(R"({"services": []})", kFile);
  ASSERT_TRUE(defs.ok()) << defs.status();
  EXPECT_TRUE(defs->empty());
}

TEST(ServiceDefinitionTest, ParsesCamelCaseRegistrationBody) {
  absl::StatusOr<ServiceDefinition> def = ParseRegistrationBody(R"({
      "ID": "redis1",
      "Name": "redis",
      "Tags": ["primary", "v1"],
      "Address": "127.0.0.1",
      "Port": 8000,
      "Meta": {"redis_version": "4.0"},
      "EnableTagOverride": false,
      "Weights": {"Passing": 10, "Warning": 1},
      "Check": {
        "Name": "Redis TCP",
        "TCP": "127.0.0.1:8000",
        "Interval": "10s",
        "Timeout": "5s",
        "DeregisterCriticalServiceAfter": "90m",
        "SuccessBeforePassing": 1,
        "FailuresBeforeCritical": 2,
        "ServiceID": "ignored"
      },
      "Checks": [
        {"CheckID": "redis-ttl", "TTL": "15s", "Status": "warning", "Notes": "n"},
        {"ID": "redis-script", "Args": ["/bin/true"], "Interval": "1m"},
        {"CheckID": "redis-https", "HTTP": "https://127.0.0.1:8443/", "Method": "POST",
         "Header": {"Authorization": ["Bearer x"]}, "TLSSkipVerify": true,
         "Interval": "30s"}
      ]
    })");
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->source, "api");
  EXPECT_EQ(def->service.id, "redis1");
  EXPECT_EQ(def->service.name, "redis");
  EXPECT_THAT(def->service.tags, ElementsAre("primary", "v1"));
  EXPECT_EQ(def->service.address, "127.0.0.1");
  EXPECT_EQ(def->service.port, 8000);
  EXPECT_THAT(def->service.meta, ElementsAre(Pair("redis_version", "4.0")));
  EXPECT_EQ(def->service.weights, (catalog::Weights{10, 1}));
  ASSERT_EQ(def->checks.size(), 4u);

  const CheckDefinition& tcp = def->checks[0];
  EXPECT_EQ(tcp.kind, CheckKind::kTcp);
  EXPECT_EQ(tcp.check.id, "service:redis1:1");
  EXPECT_EQ(tcp.check.name, "Redis TCP");
  EXPECT_EQ(tcp.check.service_id, "redis1");
  EXPECT_EQ(tcp.tcp, "127.0.0.1:8000");
  EXPECT_EQ(tcp.interval, absl::Seconds(10));
  EXPECT_EQ(tcp.timeout, absl::Seconds(5));
  EXPECT_EQ(tcp.deregister_critical_service_after, absl::Minutes(90));
  EXPECT_EQ(tcp.success_before_passing, 1);
  EXPECT_EQ(tcp.failures_before_critical, 2);

  const CheckDefinition& ttl = def->checks[1];
  EXPECT_EQ(ttl.kind, CheckKind::kTtl);
  EXPECT_EQ(ttl.check.id, "redis-ttl");
  EXPECT_EQ(ttl.check.name, "Service 'redis' check");
  EXPECT_EQ(ttl.check.status, catalog::Health::kWarning);
  EXPECT_EQ(ttl.check.notes, "n");
  EXPECT_EQ(ttl.ttl, absl::Seconds(15));

  const CheckDefinition& script = def->checks[2];
  EXPECT_EQ(script.kind, CheckKind::kScript);
  EXPECT_EQ(script.check.id, "redis-script");
  EXPECT_THAT(script.args, ElementsAre("/bin/true"));
  EXPECT_EQ(script.interval, absl::Minutes(1));

  const CheckDefinition& https = def->checks[3];
  EXPECT_EQ(https.kind, CheckKind::kHttp);
  EXPECT_EQ(https.http, "https://127.0.0.1:8443/");
  EXPECT_EQ(https.method, "POST");
  EXPECT_THAT(https.header,
              ElementsAre(Pair("Authorization", ElementsAre("Bearer x"))));
  EXPECT_TRUE(https.tls_skip_verify);
}

TEST(ServiceDefinitionTest, RegistrationBodyErrorsHaveNoFilePrefix) {
  absl::StatusOr<ServiceDefinition> def =
      ParseRegistrationBody(R"({"Name": "web", "Port": 70000})");
  ASSERT_FALSE(def.ok());
  EXPECT_EQ(Message(def.status()),
            "service \"web\": Port: 70000 is out of range (0-65535)");
  EXPECT_EQ(Message(ParseRegistrationBody(R"({"Port": 80})").status()),
            "name is missing");
  EXPECT_THAT(Message(ParseRegistrationBody("[1]").status()),
              HasSubstr("must be a JSON object"));
}

TEST(ServiceDefinitionTest, ParsesServiceObject) {
  // Built in code, so the port is a signed JSON integer.
  nlohmann::json object = {{"Name", "web"}, {"Port", 80}};
  absl::StatusOr<ServiceDefinition> def = ParseServiceObject(object, "api");
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->service.id, "web");
  EXPECT_EQ(def->service.port, 80);
  EXPECT_EQ(def->source, "api");
}

TEST(ServiceDefinitionTest, CheckIdDefaults) {
  absl::StatusOr<std::vector<ServiceDefinition>> one = ParseServiceDefinitions(
      R"({"service": {"name": "web", "id": "web-1",
                      "checks": [{"tcp": "localhost:80", "interval": "5s"}]}})",
      kFile);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ((*one)[0].checks.size(), 1u);
  EXPECT_EQ((*one)[0].checks[0].check.id, "service:web-1");

  absl::StatusOr<std::vector<ServiceDefinition>> several =
      ParseServiceDefinitions(
          R"({"service": {"name": "web",
                          "check": {"ttl": "10s"},
                          "checks": [{"tcp": "localhost:80", "interval": "5s"},
                                     {"id": "mine", "ttl": "1m"},
                                     {"status": "passing"}]}})",
          kFile);
  ASSERT_TRUE(several.ok()) << several.status();
  const std::vector<CheckDefinition>& checks = (*several)[0].checks;
  ASSERT_EQ(checks.size(), 4u);
  EXPECT_EQ(checks[0].check.id, "service:web:1");  // "check" comes first
  EXPECT_EQ(checks[0].kind, CheckKind::kTtl);
  EXPECT_EQ(checks[1].check.id, "service:web:2");
  EXPECT_EQ(checks[1].kind, CheckKind::kTcp);
  EXPECT_EQ(checks[2].check.id, "mine");
  EXPECT_EQ(checks[3].check.id, "service:web:4");
  EXPECT_EQ(checks[3].kind, CheckKind::kNone);
  EXPECT_EQ(checks[3].check.status, catalog::Health::kPassing);
  for (const CheckDefinition& check : checks) {
    EXPECT_EQ(check.check.service_id, "web");
    EXPECT_EQ(check.check.name, "Service 'web' check");
  }
}

TEST(ServiceDefinitionTest, NameErrors) {
  EXPECT_EQ(ServiceErrorOf(R"("port": 80)"),
            "deploy/examples/web.json: service.name is missing");
  EXPECT_EQ(ServiceErrorOf(R"("name": "")"),
            "deploy/examples/web.json: service.name is missing");
  EXPECT_EQ(ErrorOf(R"({"services": [{"name": "a"}, {"id": "b"}]})"),
            "deploy/examples/web.json: services[1].name is missing");
  EXPECT_EQ(ServiceErrorOf(R"("name": 7)"),
            "deploy/examples/web.json: service.name: must be a string, not a "
            "number");
  EXPECT_EQ(ServiceErrorOf(R"("name": "web.api")"),
            "deploy/examples/web.json: service \"web.api\": name: is not a DNS "
            "label (1-63 of a-z A-Z 0-9 - _)");
  EXPECT_THAT(ServiceErrorOf(absl::StrCat(R"("name": ")", std::string(64, 'a'),
                                          R"(")")),
              HasSubstr("name: is not a DNS label"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "Name": "web")"),
              HasSubstr("given twice"));
}

TEST(ServiceDefinitionTest, ServiceFieldErrors) {
  EXPECT_EQ(ServiceErrorOf(R"("name": "web", "port": 70000)"),
            "deploy/examples/web.json: service \"web\": port: 70000 is out of "
            "range (0-65535)");
  EXPECT_EQ(ServiceErrorOf(R"("name": "web", "port": -1)"),
            "deploy/examples/web.json: service \"web\": port: -1 is out of "
            "range (0-65535)");
  EXPECT_EQ(ServiceErrorOf(R"("name": "web", "port": "80")"),
            "deploy/examples/web.json: service \"web\": port: must be an "
            "integer (0-65535), not a string");
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "port": 80.5)"),
              HasSubstr("port: must be an integer (0-65535), not 80.5"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "id": 3)"),
              HasSubstr("service \"web\": id: must be a string"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "tags": "v1")"),
              HasSubstr("service \"web\": tags: must be an array of strings"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "tags": ["v1", 2])"),
              HasSubstr("service \"web\": tags[1]: must be a string"));
  const std::string address =
      ServiceErrorOf(R"("name": "web", "address": "web.internal")");
  EXPECT_THAT(address, HasSubstr("service \"web\": address: \"web.internal\" is "
                                 "not an IPv4 or IPv6 address"));
  EXPECT_THAT(address, HasSubstr("Consul would also take a host name"));
  EXPECT_EQ(ServiceErrorOf(R"("name": "web", "address": "::1")"), "");
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "meta": ["a"])"),
              HasSubstr("service \"web\": meta: must be an object of strings"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "meta": {"v": 1})"),
              HasSubstr("service \"web\": meta.v: must be a string"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "Meta": {"a b": "x"})"),
              HasSubstr("service \"web\": Meta: key \"a b\" may hold only"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "meta": {"consul-x": "x"})"),
              HasSubstr("reserved"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "weights": 3)"),
              HasSubstr("service \"web\": weights: must be an object"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "weights": {"passing": 0})"),
              HasSubstr("service \"web\": weights.passing: 0 is out of range "
                        "(1-65535)"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "Weights": {"Warning": 70000})"),
              HasSubstr("service \"web\": Weights.Warning: 70000 is out of "
                        "range"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "checks": {"ttl": "1s"})"),
              HasSubstr("service \"web\": checks: must be an array"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "checks": [3])"),
              HasSubstr("service \"web\": checks[0]: must be an object"));
}

TEST(ServiceDefinitionTest, CheckErrors) {
  EXPECT_EQ(CheckErrorOf(R"({"ttl": "5s"}, {"http": "http://x/"})"),
            "deploy/examples/web.json: service \"web\": checks[1].interval: "
            "missing (required with http)");
  EXPECT_THAT(CheckErrorOf(R"({"args": ["/bin/true"]})"),
              HasSubstr("checks[0].interval: missing (required with args)"));
  EXPECT_THAT(CheckErrorOf(R"({"tcp": "localhost:80"})"),
              HasSubstr("checks[0].interval: missing (required with tcp)"));
  EXPECT_THAT(ServiceErrorOf(R"("name": "web", "check": {"http": "http://x/"})"),
              HasSubstr("service \"web\": check.interval: missing"));
  EXPECT_THAT(CheckErrorOf(R"({"tcp": "localhost:80", "interval": "0s"})"),
              HasSubstr("checks[0].interval: must be positive"));
  EXPECT_THAT(CheckErrorOf(R"({"tcp": "localhost:80", "interval": 10})"),
              HasSubstr("checks[0].interval: must be a duration string such as "
                        "\"10s\" or \"1m30s\", not 10"));
  EXPECT_THAT(CheckErrorOf(R"({"tcp": "localhost:80", "interval": "10"})"),
              HasSubstr("checks[0].interval: invalid duration \"10\""));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "-5s"})"),
              HasSubstr("checks[0].ttl: invalid duration \"-5s\""));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "0s"})"),
              HasSubstr("checks[0].ttl: must be positive"));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "timeout": "0s"})"),
              HasSubstr("checks[0].timeout: must be positive"));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "status": "ok"})"),
              HasSubstr("checks[0].status: \"ok\" is not passing, warning or "
                        "critical"));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "Status": "up"})"),
              HasSubstr("checks[0].Status: \"up\" is not passing"));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "Status": 1})"),
              HasSubstr("checks[0].Status: must be a string"));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "http": "http://x/",
                               "interval": "1s"})"),
              HasSubstr("checks[0]: give only one of args, http, tcp, ttl "
                        "(http and ttl given)"));
  const std::string script =
      CheckErrorOf(R"({"script": "curl localhost", "interval": "1s"})");
  EXPECT_THAT(script, HasSubstr("checks[0].script: shell command lines are not "
                                "supported"));
  EXPECT_THAT(script, HasSubstr("\"args\""));
  EXPECT_THAT(CheckErrorOf(R"({"GRPC": "localhost:1", "interval": "1s"})"),
              HasSubstr("checks[0].GRPC: this kind of check is not supported"));
  EXPECT_THAT(CheckErrorOf(R"({"args": [], "interval": "1s"})"),
              HasSubstr("checks[0].args: must name a program"));
  EXPECT_THAT(CheckErrorOf(R"({"args": "/bin/true", "interval": "1s"})"),
              HasSubstr("checks[0].args: must be an array of strings"));
  EXPECT_THAT(CheckErrorOf(R"({"http": "localhost/x", "interval": "1s"})"),
              HasSubstr("checks[0].http: \"localhost/x\" is not an http:// or "
                        "https:// URL"));
  EXPECT_THAT(CheckErrorOf(R"({"http": "http://x/", "method": "GET X",
                               "interval": "1s"})"),
              HasSubstr("checks[0].method: \"GET X\" is not an HTTP method"));
  EXPECT_THAT(CheckErrorOf(R"({"http": "http://x/", "header": {"A": "b"},
                               "interval": "1s"})"),
              HasSubstr("checks[0].header.A: must be an array of strings"));
  EXPECT_THAT(CheckErrorOf(R"({"http": "http://x/", "header": {"A": ["b\r\nX: y"]},
                               "interval": "1s"})"),
              HasSubstr("checks[0].header.A[0]: must not contain CR"));
  EXPECT_THAT(CheckErrorOf(R"({"http": "http://x/", "tls_skip_verify": "yes",
                               "interval": "1s"})"),
              HasSubstr("checks[0].tls_skip_verify: must be true or false"));
  for (const char* bad : {"localhost", "localhost:0", "localhost:99999",
                          ":80", "::1:80", "[::1]", "[::1]:x"}) {
    EXPECT_THAT(
        CheckErrorOf(absl::StrCat(R"({"interval": "1s", "tcp": ")", bad, "\"}")),
        HasSubstr("checks[0].tcp: ")) << bad;
  }
  EXPECT_EQ(CheckErrorOf(R"({"tcp": "[::1]:53", "interval": "1s"})"), "");
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "failures_before_critical": -1})"),
              HasSubstr("checks[0].failures_before_critical: -1 is out of range"));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "deregister_critical_service_after": 60})"),
              HasSubstr("checks[0].deregister_critical_service_after: must be a "
                        "duration string"));
  EXPECT_THAT(CheckErrorOf(R"({"ttl": "5s", "id": "x"}, {"ttl": "5s", "id": "x"})"),
              HasSubstr("checks[1].id: \"x\" is already the id of checks[0]"));
}

TEST(ServiceDefinitionTest, DuplicateIdsInOneFile) {
  EXPECT_EQ(ErrorOf(R"({"services": [{"name": "web"}, {"name": "api", "id": "web"}]})"),
            "deploy/examples/web.json: service \"api\": id \"web\" is already "
            "the id of service \"web\" in this file");
  EXPECT_THAT(
      ErrorOf(R"({"services": [{"name": "a", "check": {"id": "c", "ttl": "1s"}},
                               {"name": "b", "check": {"id": "c", "ttl": "1s"}}]})"),
      HasSubstr("service \"b\": check id \"c\" is already used by service \"a\""));
}

TEST(ServiceDefinitionTest, DocumentShapeErrors) {
  EXPECT_EQ(ErrorOf(R"({"name": "web"})"),
            "deploy/examples/web.json: has neither a \"service\" nor a "
            "\"services\" key");
  EXPECT_THAT(ErrorOf("[]"), HasSubstr("web.json: must be a JSON object"));
  EXPECT_THAT(ErrorOf(R"({"service": []})"),
              HasSubstr("web.json: service must be a JSON object, not an array"));
  EXPECT_THAT(ErrorOf(R"({"services": {"name": "web"}})"),
              HasSubstr("web.json: services: must be an array"));
}

TEST(ServiceDefinitionTest, BrokenJsonNamesPosition) {
  const std::string error = ErrorOf("{\"service\": {\n  \"name\": \"web\",\n}}");
  EXPECT_THAT(error, StartsWith("deploy/examples/web.json: not valid JSON: "));
  EXPECT_THAT(error, HasSubstr("line 3, column 1"));
  EXPECT_THAT(error, HasSubstr("(byte offset 31)"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf("{\"service\": {\"name\": \"web\"}} x"),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf("{\"service\": {\"name\": \"w\xff\"}}"),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(Message(ParseRegistrationBody("{").status()),
              StartsWith("not valid JSON: "));
}

// A directory under $TMPDIR, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    const char* tmp = getenv("TEST_TMPDIR");
    if (tmp == nullptr) tmp = getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/svcdns_defs_XXXXXX");
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

  void Write(const std::string& name, absl::string_view text) const {
    std::ofstream out(absl::StrCat(path_, "/", name), std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << name;
  }

 private:
  std::string path_;
};

TEST(ServiceDefinitionTest, LoadConfigDirReadsJsonFilesInOrder) {
  TempDir dir;
  dir.Write("b-web.json", R"({"service": {"name": "web", "port": 80}})");
  dir.Write("a-db.json",
            R"({"services": [{"name": "db", "port": 5432,
                              "check": {"tcp": "127.0.0.1:5432", "interval": "10s"}},
                             {"name": "cache", "port": 6379}]})");
  dir.Write("README.md", "not json at all {");
  dir.Write("web.json.bak", "{broken");
  dir.Write("web.hcl", "service { name = \"x\" }");
  std::filesystem::create_directory(dir.path() + "/sub.json");
  dir.Write("sub.json/inner.json", R"({"service": {"name": "inner"}})");

  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      LoadConfigDir(dir.path());
  ASSERT_TRUE(defs.ok()) << defs.status();
  ASSERT_EQ(defs->size(), 3u);
  EXPECT_EQ((*defs)[0].service.id, "db");
  EXPECT_EQ((*defs)[0].source, dir.path() + "/a-db.json");
  ASSERT_EQ((*defs)[0].checks.size(), 1u);
  EXPECT_EQ((*defs)[0].checks[0].check.id, "service:db");
  EXPECT_EQ((*defs)[1].service.id, "cache");
  EXPECT_EQ((*defs)[2].service.id, "web");
  EXPECT_EQ((*defs)[2].source, dir.path() + "/b-web.json");
}

TEST(ServiceDefinitionTest, LoadConfigDirEmptyDirIsFine) {
  TempDir dir;
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      LoadConfigDir(dir.path());
  ASSERT_TRUE(defs.ok()) << defs.status();
  EXPECT_TRUE(defs->empty());
}

TEST(ServiceDefinitionTest, LoadConfigDirRejectsDuplicateIdsAcrossFiles) {
  TempDir dir;
  dir.Write("1.json", R"({"service": {"name": "web", "id": "web-1"}})");
  dir.Write("2.json", R"({"service": {"name": "web2", "id": "web-1"}})");
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      LoadConfigDir(dir.path());
  ASSERT_FALSE(defs.ok());
  EXPECT_EQ(defs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(defs.status()),
            absl::StrCat(dir.path(), "/2.json: service \"web2\": id \"web-1\" is "
                         "already defined in ", dir.path(), "/1.json"));
}

TEST(ServiceDefinitionTest, LoadConfigDirRejectsDuplicateCheckIdsAcrossFiles) {
  TempDir dir;
  dir.Write("1.json", R"({"service": {"name": "a", "check": {"id": "c", "ttl": "1s"}}})");
  dir.Write("2.json", R"({"service": {"name": "b", "check": {"id": "c", "ttl": "1s"}}})");
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      LoadConfigDir(dir.path());
  ASSERT_FALSE(defs.ok());
  EXPECT_THAT(Message(defs.status()),
              HasSubstr("2.json: service \"b\": check id \"c\" is already used in"));
}

TEST(ServiceDefinitionTest, LoadConfigDirNamesTheBadFile) {
  TempDir dir;
  dir.Write("good.json", R"({"service": {"name": "web"}})");
  dir.Write("z-bad.json", R"({"service": {"name": "api", "port": 123456}})");
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      LoadConfigDir(dir.path());
  ASSERT_FALSE(defs.ok());
  EXPECT_EQ(Message(defs.status()),
            absl::StrCat(dir.path(), "/z-bad.json: service \"api\": port: "
                         "123456 is out of range (0-65535)"));
}

TEST(ServiceDefinitionTest, LoadConfigDirMissingDir) {
  TempDir dir;
  absl::StatusOr<std::vector<ServiceDefinition>> defs =
      LoadConfigDir(dir.path() + "/nope");
  ASSERT_FALSE(defs.ok());
  EXPECT_EQ(defs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(defs.status()), HasSubstr("/nope"));
}

}  // namespace
}  // namespace svcdns::agent
