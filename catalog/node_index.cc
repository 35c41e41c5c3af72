#include "catalog/node_index.h"

namespace svcdns::catalog {

NodeIndex::NodeIndex(const NodeState& state) {
  service_at.reserve(state.services.size());
  for (uint32_t i = 0; i < state.services.size(); ++i) service_at[state.services[i]->id] = i;
  check_at.reserve(state.checks.size());
  for (uint32_t i = 0; i < state.checks.size(); ++i) {
    const Check& check = state.checks[i];
    check_at[check.id] = i;
    checks_of[check.service_id].push_back(i);
  }
}

void NodeIndex::Update(const NodeState& before, const NodeState& after,
                       const std::vector<uint32_t>& services,
                       const std::vector<uint32_t>& checks) {
  // What left a place first, then what took one: an item that moved (ids
  // are unique in a node) ends up at its new place.
  for (uint32_t i : services) {
    if (i < before.services.size()) service_at.erase(before.services[i]->id);
  }
  for (uint32_t i : services) {
    if (i < after.services.size()) service_at[after.services[i]->id] = i;
  }
  for (uint32_t i : checks) {
    if (i >= before.checks.size()) continue;
    const Check& check = before.checks[i];
    check_at.erase(check.id);
    auto it = checks_of.find(check.service_id);
    if (it == checks_of.end()) continue;
    std::erase(it->second, i);
    if (it->second.empty()) checks_of.erase(it);
  }
  for (uint32_t i : checks) {
    if (i >= after.checks.size()) continue;
    const Check& check = after.checks[i];
    check_at[check.id] = i;
    checks_of[check.service_id].push_back(i);
  }
}

}  // namespace svcdns::catalog
