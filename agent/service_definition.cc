#include "agent/service_definition.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/duration.h"
#include "agent/json_fields.h"
#include "catalog/validation.h"
#include "nlohmann/json.hpp"

namespace svcdns::agent {
namespace {

using nlohmann::json;
using namespace json_fields;  // NOLINT: the helpers of this file, split out

// Consul's limits on service metadata (structs.ValidateServiceMetadata).
constexpr size_t kMaxMetaPairs = 64;
constexpr size_t kMaxMetaKeyLength = 128;
constexpr size_t kMaxMetaValueLength = 512;

absl::StatusOr<catalog::Health> ParseHealth(absl::string_view s) {
  if (s == "passing") return catalog::Health::kPassing;
  if (s == "warning") return catalog::Health::kWarning;
  if (s == "critical") return catalog::Health::kCritical;
  return absl::InvalidArgumentError(
      absl::StrCat(Quote(s), " is not passing, warning or critical"));
}

// Check types Consul has and svcdns does not run: rejected rather than
// silently turned into checks whose status never changes.
struct UnsupportedKind {
  const char* snake;
  const char* camel;
};
constexpr UnsupportedKind kUnsupportedKinds[] = {
    {"grpc", "GRPC"},
    {"h2ping", "H2PING"},
    {"udp", "UDP"},
    {"docker_container_id", "DockerContainerID"},
    {"alias_service", "AliasService"},
    {"alias_node", "AliasNode"},
    {"os_service", "OSService"},
};

// One entry of "check" or "checks". `path` is "check" or "checks[1]";
// `count` is how many checks the service has, `number` this one's, from 1.
absl::StatusOr<CheckDefinition> ParseCheck(const json& object,
                                           const std::string& where,
                                           const std::string& path,
                                           const catalog::Service& service,
                                           size_t count, size_t number) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, path, ": must be an object, not ", TypeOf(object)));
  }
  const Fields f(object, where, absl::StrCat(path, "."));
  CheckDefinition def;
  catalog::Check& check = def.check;
  check.service_id = service.id;

  if (auto s = f.String({"id", "CheckID", "ID", "check_id"}, &check.id);
      !s.ok()) {
    return s;
  }
  if (check.id.empty()) {
    check.id = absl::StrCat("service:", service.id);
    if (count > 1) absl::StrAppend(&check.id, ":", number);
  }
  if (auto s = f.String({"name", "Name"}, &check.name); !s.ok()) return s;
  if (check.name.empty()) {
    check.name = absl::StrCat("Service '", service.name, "' check");
  }
  if (auto s = f.String({"notes", "Notes"}, &check.notes); !s.ok()) return s;
  absl::StatusOr<Fields::Field> status = f.Get({"status", "Status"});
  if (!status.ok()) return status.status();
  if (status->value != nullptr) {
    if (!status->value->is_string()) {
      return f.Error(status->key, absl::StrCat("must be a string, not ",
                                               TypeOf(*status->value)));
    }
    absl::StatusOr<catalog::Health> health =
        ParseHealth(status->value->get_ref<const std::string&>());
    if (!health.ok()) return f.Error(status->key, health.status().message());
    check.status = *health;
  }

  // The kind: exactly one of args, http, tcp, ttl; or none.
  {
    absl::StatusOr<Fields::Field> script = f.Get({"script", "Script"});
    if (!script.ok()) return script.status();
    if (script->value != nullptr) {
      return f.Error(script->key,
                     "shell command lines are not supported; give the program "
                     "and its arguments as \"args\", e.g. "
                     "\"args\": [\"/usr/local/bin/check\", \"--quick\"]");
    }
    for (const UnsupportedKind& kind : kUnsupportedKinds) {
      absl::StatusOr<Fields::Field> field = f.Get({kind.snake, kind.camel});
      if (!field.ok()) return field.status();
      if (field->value != nullptr) {
        return f.Error(field->key,
                       "this kind of check is not supported (svcdns runs "
                       "args, http, tcp and ttl checks)");
      }
    }
  }
  bool has_args = false;
  bool has_http = false;
  bool has_tcp = false;
  std::optional<absl::Duration> ttl;
  if (auto s = f.StringList({"args", "Args", "script_args", "ScriptArgs"},
                            &def.args, &has_args);
      !s.ok()) {
    return s;
  }
  if (auto s = f.String({"http", "HTTP"}, &def.http, &has_http); !s.ok()) {
    return s;
  }
  if (auto s = f.String({"tcp", "TCP"}, &def.tcp, &has_tcp); !s.ok()) {
    return s;
  }
  if (auto s = f.Duration({"ttl", "TTL"}, &ttl); !s.ok()) return s;
  std::vector<const char*> kinds;
  if (has_args) kinds.push_back("args");
  if (has_http) kinds.push_back("http");
  if (has_tcp) kinds.push_back("tcp");
  if (ttl.has_value()) kinds.push_back("ttl");
  if (kinds.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, path, ": give only one of args, http, tcp, ttl (",
                     absl::StrJoin(kinds, " and "), " given)"));
  }
  if (has_args) {
    def.kind = CheckKind::kScript;
    if (def.args.empty() || def.args[0].empty()) {
      return f.Error("args", "must name a program to run");
    }
  } else if (has_http) {
    def.kind = CheckKind::kHttp;
    if (!absl::StartsWithIgnoreCase(def.http, "http://") &&
        !absl::StartsWithIgnoreCase(def.http, "https://")) {
      return f.Error("http", absl::StrCat(Quote(def.http),
                                          " is not an http:// or https:// URL"));
    }
    if (auto s = f.String({"method", "Method"}, &def.method); !s.ok()) return s;
    if (!IsHttpToken(def.method)) {
      return f.Error("method",
                     absl::StrCat(Quote(def.method), " is not an HTTP method"));
    }
    if (auto s = f.Header({"header", "Header"}, &def.header); !s.ok()) return s;
    if (auto s = f.Bool({"tls_skip_verify", "TLSSkipVerify"},
                        &def.tls_skip_verify);
        !s.ok()) {
      return s;
    }
  } else if (has_tcp) {
    def.kind = CheckKind::kTcp;
    if (!IsHostPort(def.tcp)) {
      return f.Error("tcp", absl::StrCat(Quote(def.tcp),
                                         " is not host:port (port 1-65535, "
                                         "IPv6 as [addr]:port)"));
    }
  } else if (ttl.has_value()) {
    def.kind = CheckKind::kTtl;
    if (*ttl <= absl::ZeroDuration()) return f.Error("ttl", "must be positive");
    def.ttl = *ttl;
  }

  std::optional<absl::Duration> interval;
  if (auto s = f.Duration({"interval", "Interval"}, &interval); !s.ok()) {
    return s;
  }
  const bool probes = def.kind == CheckKind::kScript ||
                      def.kind == CheckKind::kHttp ||
                      def.kind == CheckKind::kTcp;
  if (probes) {
    if (!interval.has_value()) {
      return f.Error("interval", absl::StrCat("missing (required with ",
                                              CheckKindName(def.kind), ")"));
    }
    if (*interval <= absl::ZeroDuration()) {
      return f.Error("interval", "must be positive");
    }
  }
  if (interval.has_value()) def.interval = *interval;

  std::optional<absl::Duration> timeout;
  if (auto s = f.Duration({"timeout", "Timeout"}, &timeout); !s.ok()) return s;
  if (timeout.has_value()) {
    if (*timeout <= absl::ZeroDuration()) {
      return f.Error("timeout", "must be positive");
    }
    def.timeout = *timeout;
  }
  std::optional<absl::Duration> deregister_after;
  if (auto s = f.Duration({"deregister_critical_service_after",
                           "DeregisterCriticalServiceAfter"},
                          &deregister_after);
      !s.ok()) {
    return s;
  }
  if (deregister_after.has_value()) {
    def.deregister_critical_service_after = *deregister_after;
  }
  constexpr uint64_t kMaxCount = std::numeric_limits<int>::max();
  std::optional<uint64_t> n;
  if (auto s = f.Uint({"success_before_passing", "SuccessBeforePassing"}, 0,
                      kMaxCount, &n);
      !s.ok()) {
    return s;
  }
  if (n.has_value()) def.success_before_passing = static_cast<int>(*n);
  n.reset();
  if (auto s = f.Uint({"failures_before_critical", "FailuresBeforeCritical"},
                      0, kMaxCount, &n);
      !s.ok()) {
    return s;
  }
  if (n.has_value()) def.failures_before_critical = static_cast<int>(*n);

  if (auto s = catalog::ValidateCheck(check); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, path, ": ", s.message()));
  }
  return def;
}

absl::Status ValidateMeta(const Fields& f, absl::string_view key,
                          const std::map<std::string, std::string>& meta) {
  if (meta.size() > kMaxMetaPairs) {
    return f.Error(key, absl::StrCat("has ", meta.size(), " keys, more than ",
                                     kMaxMetaPairs));
  }
  for (const auto& [k, v] : meta) {
    if (k.empty()) return f.Error(key, "keys must not be empty");
    const std::string field = absl::StrCat(key, ".", k);
    if (k.size() > kMaxMetaKeyLength) {
      return f.Error(key, absl::StrCat("key ", Quote(k), " is longer than ",
                                       kMaxMetaKeyLength, " characters"));
    }
    for (char c : k) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
          c != '_') {
        return f.Error(key, absl::StrCat("key ", Quote(k),
                                         " may hold only a-z A-Z 0-9 - _"));
      }
    }
    if (absl::StartsWith(k, "consul-")) {
      return f.Error(key, absl::StrCat("key ", Quote(k),
                                       ": the \"consul-\" prefix is reserved"));
    }
    if (v.size() > kMaxMetaValueLength) {
      return f.Error(field, absl::StrCat("is longer than ",
                                         kMaxMetaValueLength, " characters"));
    }
  }
  return absl::OkStatus();
}

// `prefix` starts every message ("web.json: " or ""); `path` is where the
// object sits ("service", "services[2]", or "" for a request body).
absl::StatusOr<ServiceDefinition> ParseService(const json& object,
                                               absl::string_view prefix,
                                               absl::string_view path,
                                               absl::string_view source) {
  const std::string path_dot = path.empty() ? "" : absl::StrCat(path, ".");
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, path.empty() ? "the service" : path,
        " must be a JSON object, not ", TypeOf(object)));
  }
  ServiceDefinition def;
  def.source = std::string(source);
  catalog::Service& service = def.service;

  // The name first: later messages say which service they are about.
  {
    const Fields top(object, std::string(prefix), path_dot);
    bool has_name = false;
    if (auto s = top.String({"name", "Name"}, &service.name, &has_name);
        !s.ok()) {
      return s;
    }
    if (!has_name || service.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, path_dot, "name is missing"));
    }
  }
  const std::string where =
      absl::StrCat(prefix, "service ", Quote(service.name), ": ");
  const Fields f(object, where, "");
  if (!catalog::IsDnsLabel(service.name)) {
    return f.Error("name", "is not a DNS label (1-63 of a-z A-Z 0-9 - _)");
  }
  if (auto s = f.String({"id", "ID"}, &service.id); !s.ok()) return s;
  if (service.id.empty()) service.id = service.name;
  if (auto s = f.StringList({"tags", "Tags"}, &service.tags); !s.ok()) {
    return s;
  }
  if (auto s = f.String({"address", "Address"}, &service.address); !s.ok()) {
    return s;
  }
  if (!service.address.empty() && !catalog::IsIpLiteral(service.address)) {
    return f.Error(
        "address",
        absl::StrCat(Quote(service.address),
                     " is not an IPv4 or IPv6 address (svcdns needs a literal "
                     "address here, where Consul would also take a host "
                     "name; leave it out to use the node's address)"));
  }
  std::optional<uint64_t> port;
  if (auto s = f.Uint({"port", "Port"}, 0, 65535, &port); !s.ok()) return s;
  if (port.has_value()) service.port = static_cast<uint16_t>(*port);
  std::string meta_key;
  if (auto s = f.StringMap({"meta", "Meta"}, &service.meta, &meta_key);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateMeta(f, meta_key, service.meta); !s.ok()) return s;

  absl::StatusOr<Fields::Field> weights = f.Get({"weights", "Weights"});
  if (!weights.ok()) return weights.status();
  if (weights->value != nullptr) {
    if (!weights->value->is_object()) {
      return f.Error(weights->key,
                     absl::StrCat("must be an object such as {\"passing\": 3, "
                                  "\"warning\": 1}, not ",
                                  TypeOf(*weights->value)));
    }
    // SRV weights are 16 bits; a passing instance must have some weight.
    const Fields w(*weights->value, where, absl::StrCat(weights->key, "."));
    std::optional<uint64_t> passing;
    std::optional<uint64_t> warning;
    if (auto s = w.Uint({"passing", "Passing"}, 1, 65535, &passing); !s.ok()) {
      return s;
    }
    if (auto s = w.Uint({"warning", "Warning"}, 0, 65535, &warning); !s.ok()) {
      return s;
    }
    if (passing.has_value()) {
      service.weights.passing = static_cast<uint32_t>(*passing);
    }
    if (warning.has_value()) {
      service.weights.warning = static_cast<uint32_t>(*warning);
    }
  }
  if (auto s = catalog::ValidateService(service); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, s.message()));
  }

  // "check" first, then "checks", as Consul's CheckTypes() orders them.
  std::vector<std::pair<const json*, std::string>> checks;
  absl::StatusOr<Fields::Field> check = f.Get({"check", "Check"});
  if (!check.ok()) return check.status();
  if (check->value != nullptr) checks.emplace_back(check->value, check->key);
  absl::StatusOr<Fields::Field> list = f.Get({"checks", "Checks"});
  if (!list.ok()) return list.status();
  if (list->value != nullptr) {
    if (!list->value->is_array()) {
      return f.Error(list->key, absl::StrCat("must be an array of objects, not ",
                                             TypeOf(*list->value)));
    }
    for (size_t i = 0; i < list->value->size(); ++i) {
      checks.emplace_back(&(*list->value)[i],
                          absl::StrCat(list->key, "[", i, "]"));
    }
  }
  absl::flat_hash_map<std::string, std::string> check_paths;  // id -> path
  for (size_t i = 0; i < checks.size(); ++i) {
    absl::StatusOr<CheckDefinition> c = ParseCheck(
        *checks[i].first, where, checks[i].second, service, checks.size(), i + 1);
    if (!c.ok()) return c.status();
    auto [it, inserted] = check_paths.emplace(c->check.id, checks[i].second);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, checks[i].second, ".id: ", Quote(c->check.id),
          " is already the id of ", it->second));
    }
    def.checks.push_back(*std::move(c));
  }
  return def;
}

std::string Prefix(absl::string_view source) {
  return source.empty() ? std::string() : absl::StrCat(source, ": ");
}

}  // namespace

const char* CheckKindName(CheckKind kind) {
  switch (kind) {
    case CheckKind::kNone:
      return "none";
    case CheckKind::kScript:
      return "args";
    case CheckKind::kHttp:
      return "http";
    case CheckKind::kTcp:
      return "tcp";
    case CheckKind::kTtl:
      return "ttl";
  }
  return "none";
}

absl::StatusOr<ServiceDefinition> ParseServiceObject(const json& object,
                                                     absl::string_view source,
                                                     absl::string_view path) {
  return ParseService(object, Prefix(source), path, source);
}

absl::StatusOr<ServiceDefinition> ParseRegistrationBody(
    absl::string_view json_text) {
  absl::StatusOr<json> doc = ParseJson(json_text, "");
  if (!doc.ok()) return doc.status();
  return ParseService(*doc, "", "", "api");
}

absl::StatusOr<std::vector<ServiceDefinition>> ParseServiceDefinitions(
    absl::string_view json_text, absl::string_view source) {
  const std::string prefix = Prefix(source);
  absl::StatusOr<json> doc = ParseJson(json_text, prefix);
  if (!doc.ok()) return doc.status();
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "must be a JSON object with a \"service\" or \"services\" key, "
                "not ",
        TypeOf(*doc)));
  }
  std::vector<std::pair<const json*, std::string>> objects;
  auto service = doc->find("service");
  if (service != doc->end() && !service->is_null()) {
    objects.emplace_back(&*service, "service");
  }
  auto services = doc->find("services");
  const bool has_services = services != doc->end() && !services->is_null();
  if (has_services) {
    if (!services->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "services: must be an array of objects, not ",
                       TypeOf(*services)));
    }
    for (size_t i = 0; i < services->size(); ++i) {
      objects.emplace_back(&(*services)[i], absl::StrCat("services[", i, "]"));
    }
  }
  if (objects.empty() && !has_services) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "has neither a \"service\" nor a \"services\" key"));
  }
  std::vector<ServiceDefinition> defs;
  absl::flat_hash_map<std::string, std::string> names;  // id -> service name
  absl::flat_hash_map<std::string, std::string> check_owners;  // id -> name
  for (const auto& [object, path] : objects) {
    absl::StatusOr<ServiceDefinition> def =
        ParseService(*object, prefix, path, source);
    if (!def.ok()) return def.status();
    auto [it, inserted] = names.emplace(def->service.id, def->service.name);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "service ", Quote(def->service.name), ": id ",
          Quote(def->service.id), " is already the id of service ",
          Quote(it->second), " in this file"));
    }
    for (const CheckDefinition& check : def->checks) {
      auto [c, check_inserted] =
          check_owners.emplace(check.check.id, def->service.name);
      if (!check_inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            prefix, "service ", Quote(def->service.name), ": check id ",
            Quote(check.check.id), " is already used by service ",
            Quote(c->second), " in this file"));
      }
    }
    defs.push_back(*std::move(def));
  }
  return defs;
}

absl::StatusOr<std::vector<ServiceDefinition>> LoadConfigDir(
    const std::string& dir) {
  namespace fs = std::filesystem;
  auto fs_error = [&dir](const std::error_code& ec) {
    std::string message = absl::StrCat("config dir ", dir, ": ", ec.message());
    if (ec == std::errc::no_such_file_or_directory) {
      return absl::NotFoundError(message);
    }
    return absl::FailedPreconditionError(message);
  };
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return fs_error(ec);
  std::vector<fs::path> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    if (path.extension() != ".json") continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;  // follows symlinks
    files.push_back(path);
  }
  if (ec) return fs_error(ec);
  std::sort(files.begin(), files.end());

  std::vector<ServiceDefinition> all;
  absl::flat_hash_map<std::string, std::string> service_files;  // id -> file
  absl::flat_hash_map<std::string, std::string> check_files;    // id -> file
  for (const fs::path& path : files) {
    const std::string name = path.string();
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, ": cannot open: ",
                       std::error_code(errno, std::generic_category()).message()));
    }
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    if (in.bad()) {
      return absl::FailedPreconditionError(absl::StrCat(name, ": read failed"));
    }
    absl::StatusOr<std::vector<ServiceDefinition>> defs =
        ParseServiceDefinitions(text, name);
    if (!defs.ok()) return defs.status();
    for (ServiceDefinition& def : *defs) {
      auto [s, inserted] = service_files.emplace(def.service.id, name);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": service ", Quote(def.service.name), ": id ",
            Quote(def.service.id), " is already defined in ", s->second));
      }
      for (const CheckDefinition& check : def.checks) {
        auto [c, check_inserted] = check_files.emplace(check.check.id, name);
        if (!check_inserted) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, ": service ", Quote(def.service.name), ": check id ",
              Quote(check.check.id), " is already used in ", c->second));
        }
      }
      all.push_back(std::move(def));
    }
  }
  return all;
}

}  // namespace svcdns::agent
