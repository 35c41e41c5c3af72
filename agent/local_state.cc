#include "agent/local_state.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "catalog/validation.h"

namespace svcdns::agent {

using catalog::Change;

std::vector<Change> LocalState::Replace(const ServiceDefinition* before,
                                        const ServiceDefinition* after) {
  std::vector<Change> changes;
  std::set<std::string> kept;
  if (after != nullptr) {
    changes.push_back(after->service);
    for (const CheckDefinition& def : after->checks) {
      kept.insert(def.check.id);
      checks_[def.check.id] = def.check;  // a (re)registered check starts over
      changes.push_back(def.check);
    }
  }
  if (before != nullptr) {
    for (const CheckDefinition& def : before->checks) {
      if (kept.count(def.check.id) == 0) {
        checks_.erase(def.check.id);
        changes.push_back(catalog::DeleteCheck{def.check.id});
      }
    }
    if (after == nullptr) changes.push_back(catalog::DeleteService{before->service.id});
  }
  return changes;
}

std::vector<Change> LocalState::SetFileServices(std::vector<ServiceDefinition> definitions) {
  std::vector<Change> changes;
  std::set<std::string> ids;
  for (ServiceDefinition& def : definitions) {
    ids.insert(def.service.id);
    auto it = services_.find(def.service.id);
    if (it != services_.end() && it->second.from_api) continue;  // the API's word wins
    if (it != services_.end() && it->second.definition.service == def.service &&
        it->second.definition.checks == def.checks) {
      continue;  // unchanged, probes included: keep its checks' results
    }
    const ServiceDefinition* before = it != services_.end() ? &it->second.definition : nullptr;
    ServiceDefinition copy = def;
    auto more = Replace(before, &copy);
    changes.insert(changes.end(), more.begin(), more.end());
    std::string id = def.service.id;  // before the move below
    services_[id] = Entry{std::move(def), false};
  }
  for (auto it = services_.begin(); it != services_.end();) {
    if (!it->second.from_api && ids.count(it->first) == 0) {
      auto more = Replace(&it->second.definition, nullptr);
      changes.insert(changes.end(), more.begin(), more.end());
      it = services_.erase(it);
    } else {
      ++it;
    }
  }
  return changes;
}

absl::StatusOr<std::vector<Change>> LocalState::Register(ServiceDefinition definition) {
  if (auto s = catalog::ValidateService(definition.service); !s.ok()) return s;
  for (const CheckDefinition& def : definition.checks) {
    auto owner = checks_.find(def.check.id);
    if (owner != checks_.end() && owner->second.service_id != definition.service.id) {
      return absl::InvalidArgumentError(absl::StrCat(
          "check id \"", def.check.id, "\" belongs to service \"", owner->second.service_id, "\""));
    }
  }
  auto it = services_.find(definition.service.id);
  const ServiceDefinition* before = it != services_.end() ? &it->second.definition : nullptr;
  auto changes = Replace(before, &definition);
  std::string id = definition.service.id;  // before the move below
  services_[id] = Entry{std::move(definition), true};
  return changes;
}

absl::StatusOr<std::vector<Change>> LocalState::Deregister(const std::string& service_id) {
  auto it = services_.find(service_id);
  if (it == services_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown service ID \"", service_id, "\""));
  }
  auto changes = Replace(&it->second.definition, nullptr);
  services_.erase(it);
  return changes;
}

std::vector<Change> LocalState::SetCheck(const std::string& check_id, catalog::Health status,
                                         const std::string& output) {
  auto it = checks_.find(check_id);
  if (it == checks_.end()) return {};
  if (it->second.status == status && it->second.output == output) return {};
  it->second.status = status;
  it->second.output = output;
  return {catalog::CheckResult{check_id, status, output}};
}

catalog::NodeState LocalState::State() const {
  catalog::NodeState state;
  state.node = node_;
  for (const auto& [id, entry] : services_) state.services.push_back(entry.definition.service);
  for (const auto& [id, check] : checks_) state.checks.push_back(check);
  return state;
}

const ServiceDefinition* LocalState::FindService(const std::string& id) const {
  auto it = services_.find(id);
  return it == services_.end() ? nullptr : &it->second.definition;
}

const CheckDefinition* LocalState::FindCheckDefinition(const std::string& check_id) const {
  auto check = checks_.find(check_id);
  if (check == checks_.end()) return nullptr;
  const ServiceDefinition* service = FindService(check->second.service_id);
  if (service == nullptr) return nullptr;
  for (const CheckDefinition& def : service->checks) {
    if (def.check.id == check_id) return &def;
  }
  return nullptr;
}

const catalog::Check* LocalState::FindCheck(const std::string& check_id) const {
  auto it = checks_.find(check_id);
  return it == checks_.end() ? nullptr : &it->second;
}

std::vector<ServiceDefinition> LocalState::ApiServices() const {
  std::vector<ServiceDefinition> out;
  for (const auto& [id, entry] : services_) {
    if (entry.from_api) out.push_back(entry.definition);
  }
  return out;
}

std::vector<const ServiceDefinition*> LocalState::Services() const {
  std::vector<const ServiceDefinition*> out;
  for (const auto& [id, entry] : services_) out.push_back(&entry.definition);
  return out;
}

}  // namespace svcdns::agent
