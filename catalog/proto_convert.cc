#include "catalog/proto_convert.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "catalog/validation.h"

namespace svcdns::catalog {
namespace {

constexpr uint32_t kMaxPort = 65535;

// What an error calls a service or check: its id, or its name when the id
// is missing (validation reports the missing id itself).
const std::string& Label(const std::string& id, const std::string& name) {
  return id.empty() ? name : id;
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// NodeStateFromProto without the `node "<name>": ` prefix on errors, for
// CatalogFromProto, which says where in its own words.
absl::StatusOr<NodeState> ConvertNodeState(const svcdns::v1::NodeState& proto) {
  NodeState state;
  state.node = NodeFromProto(proto.node());
  state.services.reserve(proto.services_size());
  for (const svcdns::v1::Service& service_proto : proto.services()) {
    absl::StatusOr<Service> service = ServiceFromProto(service_proto);
    if (!service.ok()) return service.status();
    state.services.push_back(*std::move(service));
  }
  state.checks.reserve(proto.checks_size());
  for (const svcdns::v1::Check& check_proto : proto.checks()) {
    absl::StatusOr<Check> check = CheckFromProto(check_proto);
    if (!check.ok()) return check.status();
    state.checks.push_back(*std::move(check));
  }
  state.status = NodeStatus::kAlive;
  return state;
}

}  // namespace

absl::StatusOr<Health> HealthFromProto(svcdns::v1::HealthStatus status) {
  switch (status) {
    case svcdns::v1::HEALTH_STATUS_PASSING:
      return Health::kPassing;
    case svcdns::v1::HEALTH_STATUS_WARNING:
      return Health::kWarning;
    case svcdns::v1::HEALTH_STATUS_CRITICAL:
      return Health::kCritical;
    case svcdns::v1::HEALTH_STATUS_UNSPECIFIED:
      return absl::InvalidArgumentError(
          "status HEALTH_STATUS_UNSPECIFIED is not passing, warning or "
          "critical");
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "status ", static_cast<int>(status), " is not a known HealthStatus"));
}

svcdns::v1::HealthStatus HealthToProto(Health health) {
  switch (health) {
    case Health::kPassing:
      return svcdns::v1::HEALTH_STATUS_PASSING;
    case Health::kWarning:
      return svcdns::v1::HEALTH_STATUS_WARNING;
    case Health::kCritical:
      return svcdns::v1::HEALTH_STATUS_CRITICAL;
  }
  // Not a value of Health: the safe answer is the one that takes the
  // instance out of DNS answers.
  return svcdns::v1::HEALTH_STATUS_CRITICAL;
}

absl::StatusOr<Service> ServiceFromProto(const svcdns::v1::Service& proto) {
  if (proto.port() > kMaxPort) {
    return absl::InvalidArgumentError(
        absl::StrCat("service \"", Label(proto.id(), proto.name()), "\": port ",
                     proto.port(), " is over ", kMaxPort));
  }
  Service service;
  service.id = proto.id();
  service.name = proto.name();
  service.tags.assign(proto.tags().begin(), proto.tags().end());
  service.address = proto.address();
  service.port = static_cast<uint16_t>(proto.port());
  service.meta.insert(proto.meta().begin(), proto.meta().end());
  if (proto.has_weights()) {
    service.weights.passing = proto.weights().passing();
    service.weights.warning = proto.weights().warning();
  } else {
    service.weights = Weights{};  // passing 1, warning 1
  }
  return service;
}

absl::StatusOr<Check> CheckFromProto(const svcdns::v1::Check& proto) {
  absl::StatusOr<Health> status = HealthFromProto(proto.status());
  if (!status.ok()) {
    return Prefixed(
        absl::StrCat("check \"", Label(proto.id(), proto.name()), "\": "),
        status.status());
  }
  Check check;
  check.id = proto.id();
  check.name = proto.name();
  check.service_id = proto.service_id();
  check.status = *status;
  check.output = proto.output();
  check.notes = proto.notes();
  return check;
}

Node NodeFromProto(const svcdns::v1::Node& proto) {
  Node node;
  node.name = proto.name();
  node.address = proto.address();
  node.datacenter = proto.datacenter();
  node.meta.insert(proto.meta().begin(), proto.meta().end());
  return node;
}

absl::StatusOr<NodeState> NodeStateFromProto(
    const svcdns::v1::NodeState& proto) {
  absl::StatusOr<NodeState> state = ConvertNodeState(proto);
  if (!state.ok()) {
    return Prefixed(absl::StrCat("node \"", proto.node().name(), "\": "),
                    state.status());
  }
  return state;
}

absl::StatusOr<Catalog> CatalogFromProto(const svcdns::v1::Catalog& proto) {
  Catalog catalog;
  catalog.index = proto.index();
  catalog.nodes.reserve(proto.nodes_size());
  // (datacenter, name), lowercased -> position of the first node with it.
  absl::flat_hash_map<std::pair<std::string, std::string>, int> seen;
  for (int i = 0; i < proto.nodes_size(); ++i) {
    const svcdns::v1::NodeState& node_proto = proto.nodes(i);
    const std::string where = absl::StrCat("nodes[", i, "] (node \"",
                                           node_proto.node().name(), "\"): ");
    absl::StatusOr<NodeState> state = ConvertNodeState(node_proto);
    if (!state.ok()) return Prefixed(where, state.status());
    if (absl::Status valid = ValidateNodeState(*state); !valid.ok()) {
      return Prefixed(where, valid);
    }
    auto [it, inserted] = seen.try_emplace(
        std::make_pair(absl::AsciiStrToLower(state->node.datacenter),
                       absl::AsciiStrToLower(state->node.name)),
        i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "node name \"", state->node.name, "\" appears twice in ",
          state->node.datacenter.empty()
              ? std::string("the server's own datacenter")
              : absl::StrCat("datacenter \"", state->node.datacenter, "\""),
          " (first at nodes[", it->second, "])"));
    }
    catalog.nodes.push_back(*std::move(state));
  }
  return catalog;
}

svcdns::v1::Service ServiceToProto(const Service& service) {
  svcdns::v1::Service proto;
  proto.set_id(service.id);
  proto.set_name(service.name);
  for (const std::string& tag : service.tags) proto.add_tags(tag);
  proto.set_address(service.address);
  proto.set_port(service.port);
  for (const auto& [key, value] : service.meta) {
    (*proto.mutable_meta())[key] = value;
  }
  if (!(service.weights == Weights{})) {
    proto.mutable_weights()->set_passing(service.weights.passing);
    proto.mutable_weights()->set_warning(service.weights.warning);
  }
  return proto;
}

svcdns::v1::Check CheckToProto(const Check& check) {
  svcdns::v1::Check proto;
  proto.set_id(check.id);
  proto.set_name(check.name);
  proto.set_service_id(check.service_id);
  proto.set_status(HealthToProto(check.status));
  proto.set_output(check.output);
  proto.set_notes(check.notes);
  return proto;
}

svcdns::v1::Node NodeToProto(const Node& node) {
  svcdns::v1::Node proto;
  proto.set_name(node.name);
  proto.set_address(node.address);
  proto.set_datacenter(node.datacenter);
  for (const auto& [key, value] : node.meta) {
    (*proto.mutable_meta())[key] = value;
  }
  return proto;
}

svcdns::v1::NodeState NodeStateToProto(const NodeState& state) {
  svcdns::v1::NodeState proto;
  *proto.mutable_node() = NodeToProto(state.node);
  for (const Service& service : state.services) {
    *proto.add_services() = ServiceToProto(service);
  }
  for (const Check& check : state.checks) {
    *proto.add_checks() = CheckToProto(check);
  }
  return proto;
}

svcdns::v1::Catalog CatalogToProto(const Catalog& catalog) {
  svcdns::v1::Catalog proto;
  proto.set_index(catalog.index);
  for (const NodeState& state : catalog.nodes) {
    *proto.add_nodes() = NodeStateToProto(state);
  }
  return proto;
}

absl::StatusOr<Change> ChangeFromProto(const svcdns::v1::Change& proto) {
  switch (proto.change_case()) {
    case svcdns::v1::Change::kUpsertService: {
      auto service = ServiceFromProto(proto.upsert_service());
      if (!service.ok()) return service.status();
      return Change(*std::move(service));
    }
    case svcdns::v1::Change::kDeleteServiceId:
      return Change(DeleteService{proto.delete_service_id()});
    case svcdns::v1::Change::kUpsertCheck: {
      auto check = CheckFromProto(proto.upsert_check());
      if (!check.ok()) return check.status();
      return Change(*std::move(check));
    }
    case svcdns::v1::Change::kDeleteCheckId:
      return Change(DeleteCheck{proto.delete_check_id()});
    case svcdns::v1::Change::kCheckStatus: {
      const auto& result = proto.check_status();
      auto health = HealthFromProto(result.status());
      if (!health.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "check_status \"", result.check_id(), "\": ", health.status().message()));
      }
      return Change(CheckResult{result.check_id(), *health, result.output()});
    }
    case svcdns::v1::Change::CHANGE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("a change with nothing in it");
}

svcdns::v1::Change ChangeToProto(const Change& change) {
  svcdns::v1::Change proto;
  if (const auto* service = std::get_if<Service>(&change)) {
    *proto.mutable_upsert_service() = ServiceToProto(*service);
  } else if (const auto* del = std::get_if<DeleteService>(&change)) {
    proto.set_delete_service_id(del->id);
  } else if (const auto* check = std::get_if<Check>(&change)) {
    *proto.mutable_upsert_check() = CheckToProto(*check);
  } else if (const auto* del_check = std::get_if<DeleteCheck>(&change)) {
    proto.set_delete_check_id(del_check->id);
  } else if (const auto* result = std::get_if<CheckResult>(&change)) {
    auto* status = proto.mutable_check_status();
    status->set_check_id(result->check_id);
    status->set_status(HealthToProto(result->status));
    status->set_output(result->output);
  }
  return proto;
}

}  // namespace svcdns::catalog
