#include "catalog/validation.h"

#include <arpa/inet.h>

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace svcdns::catalog {

NodeKey KeyOfNode(const Node& node, std::string_view local_datacenter) {
  absl::string_view dc = node.datacenter.empty()
                             ? absl::string_view(local_datacenter.data(), local_datacenter.size())
                             : absl::string_view(node.datacenter);
  return {absl::AsciiStrToLower(dc), absl::AsciiStrToLower(node.name)};
}

const char* HealthName(Health health) {
  switch (health) {
    case Health::kPassing:
      return "passing";
    case Health::kWarning:
      return "warning";
    case Health::kCritical:
      return "critical";
  }
  return "critical";
}

bool IsDnsLabel(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsIpLiteral(absl::string_view s) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
  std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

absl::Status ValidateNode(const Node& node) {
  if (!IsDnsLabel(node.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node name \"", node.name, "\" is not a DNS label (1-63 of a-z 0-9 - _)"));
  }
  if (!IsIpLiteral(node.address)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node \"", node.name, "\": address \"", node.address,
                     "\" is not an IPv4 or IPv6 literal"));
  }
  if (!node.datacenter.empty() && !IsDnsLabel(node.datacenter)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node \"", node.name, "\": datacenter \"", node.datacenter,
                     "\" is not a DNS label"));
  }
  return absl::OkStatus();
}

absl::Status ValidateService(const Service& service) {
  if (service.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service \"", service.id, "\": name is missing"));
  }
  if (!IsDnsLabel(service.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("service \"", service.id, "\": name \"", service.name,
                     "\" is not a DNS label (1-63 of a-z 0-9 - _)"));
  }
  if (service.id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service \"", service.name, "\": id is empty"));
  }
  if (!service.address.empty() && !IsIpLiteral(service.address)) {
    return absl::InvalidArgumentError(
        absl::StrCat("service \"", service.id, "\": address \"",
                     service.address, "\" is not an IPv4 or IPv6 literal"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCheck(const Check& check) {
  if (check.id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("check \"", check.name, "\": id is empty"));
  }
  switch (check.status) {
    case Health::kPassing:
    case Health::kWarning:
    case Health::kCritical:
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("check \"", check.id, "\": status is not passing, warning or critical"));
}

absl::Status ValidateNodeState(const NodeState& state) {
  if (auto s = ValidateNode(state.node); !s.ok()) return s;
  absl::flat_hash_set<absl::string_view> service_ids;
  for (const Service& service : state.services) {
    if (auto s = ValidateService(service); !s.ok()) return s;
    if (!service_ids.insert(service.id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node \"", state.node.name, "\": service id \"", service.id,
          "\" appears twice"));
    }
  }
  absl::flat_hash_set<absl::string_view> check_ids;
  for (const Check& check : state.checks) {
    if (auto s = ValidateCheck(check); !s.ok()) return s;
    if (!check_ids.insert(check.id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node \"", state.node.name, "\": check id \"", check.id,
          "\" appears twice"));
    }
    if (!check.service_id.empty() && !service_ids.contains(check.service_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("check \"", check.id, "\": service_id \"",
                       check.service_id, "\" is not a service of node \"",
                       state.node.name, "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace svcdns::catalog
