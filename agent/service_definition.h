// Consul-format service definitions: the files of a config directory
// ({"service": {...}} or {"services": [...]}) and the body of the agent's
// PUT /v1/agent/service/register, turned into catalog values plus the health
// check settings the agent runs. Keys are accepted in the files' snake_case
// ("name", "tls_skip_verify") and in the HTTP API's CamelCase ("Name",
// "TLSSkipVerify"); unknown keys are ignored, as Consul has many we do not
// use. Errors are INVALID_ARGUMENT and name the source, the service and the
// field: `web.json: service "web": checks[1].interval: missing (required with
// http)`. Array indexes in messages count from 0.
#ifndef SVCDNS_AGENT_SERVICE_DEFINITION_H_
#define SVCDNS_AGENT_SERVICE_DEFINITION_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "catalog/model.h"
#include "nlohmann/json_fwd.hpp"

namespace svcdns::agent {

// How a check learns its status; fixed by which key the definition has.
enum class CheckKind {
  kNone,    // no probe: the status stays as defined (or as set through the API)
  kScript,  // "args": run a program (no shell); exit 0 passing, 1 warning
  kHttp,    // "http": GET (or "method") a URL; 2xx passing, 429 warning
  kTcp,     // "tcp": connect to host:port
  kTtl,     // "ttl": critical unless updated through the API within ttl
};

const char* CheckKindName(CheckKind kind);  // "none", "args", "http", "tcp", "ttl"

struct CheckDefinition {
  // id, name, service_id, initial status (critical unless "status" says
  // otherwise, as in Consul) and notes.
  catalog::Check check;
  CheckKind kind = CheckKind::kNone;
  std::vector<std::string> args;  // kScript: argv, run without a shell
  // kHttp
  std::string http;  // http:// or https:// URL
  std::string method = "GET";
  std::map<std::string, std::vector<std::string>> header;
  bool tls_skip_verify = false;
  std::string tcp;  // kTcp: host:port
  absl::Duration ttl = absl::ZeroDuration();       // kTtl, positive
  absl::Duration interval = absl::ZeroDuration();  // kScript, kHttp, kTcp: positive
  absl::Duration timeout = absl::Seconds(10);
  int success_before_passing = 0;
  int failures_before_critical = 0;
  // Deregister the service once this check has been critical this long;
  // zero: never.
  absl::Duration deregister_critical_service_after = absl::ZeroDuration();
  bool operator==(const CheckDefinition&) const = default;
};

struct ServiceDefinition {
  catalog::Service service;
  std::vector<CheckDefinition> checks;  // "check" first, then "checks"
  std::string source;  // the file it came from, or "api"; for messages
};

// Parses one definition document, {"service": {...}} and/or
// {"services": [{...}, ...]}. Other top-level keys are ignored, but a
// document with neither is an error. Service ids must be unique within it.
// `source` (a file path) prefixes every error message.
absl::StatusOr<std::vector<ServiceDefinition>> ParseServiceDefinitions(
    absl::string_view json_text, absl::string_view source);

// Parses the body of PUT /v1/agent/service/register: one service object, no
// "service" wrapper. The result's source is "api"; error messages carry no
// prefix, fit to return to the HTTP client.
absl::StatusOr<ServiceDefinition> ParseRegistrationBody(
    absl::string_view json_text);

// Parses one already decoded service object. `source` (may be empty)
// prefixes error messages and becomes the result's source; `path` is where
// the object sits in its document ("service", "services[2]"), named in
// messages only while the service's name is unknown.
absl::StatusOr<ServiceDefinition> ParseServiceObject(
    const nlohmann::json& object, absl::string_view source,
    absl::string_view path = "service");

// Reads every regular *.json file directly in `dir` (sorted by name; other
// files and subdirectories ignored), parses each, and checks that service ids
// and check ids are unique across all of them. NOT_FOUND if `dir` does not
// exist.
absl::StatusOr<std::vector<ServiceDefinition>> LoadConfigDir(
    const std::string& dir);

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_SERVICE_DEFINITION_H_
