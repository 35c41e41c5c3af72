// The agent's own node: its services (from definition files and from the
// registration API) and its checks with their current results. Every
// mutation returns the changes that bring a server up to date, so the
// streams send Updates rather than whole Syncs. Owned by the agent's loop
// thread.
#ifndef SVCDNS_AGENT_LOCAL_STATE_H_
#define SVCDNS_AGENT_LOCAL_STATE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/service_definition.h"
#include "catalog/change.h"
#include "catalog/model.h"

namespace svcdns::agent {

class LocalState {
 public:
  explicit LocalState(catalog::Node node) : node_(std::move(node)) {}

  // Replaces every service that came from files (a reload). Services
  // registered through the API stay.
  std::vector<catalog::Change> SetFileServices(std::vector<ServiceDefinition> definitions);
  // Adds or replaces one service (and its checks) from the API.
  absl::StatusOr<std::vector<catalog::Change>> Register(ServiceDefinition definition);
  // NOT_FOUND if there is no such service.
  absl::StatusOr<std::vector<catalog::Change>> Deregister(const std::string& service_id);
  // A new check result; empty if nothing changed.
  std::vector<catalog::Change> SetCheck(const std::string& check_id, catalog::Health status,
                                        const std::string& output);

  catalog::NodeState State() const;  // node, services, checks: for a Sync
  const catalog::Node& node() const { return node_; }
  const ServiceDefinition* FindService(const std::string& id) const;
  const CheckDefinition* FindCheckDefinition(const std::string& check_id) const;
  const catalog::Check* FindCheck(const std::string& check_id) const;
  std::vector<ServiceDefinition> ApiServices() const;  // what --data-dir keeps
  std::vector<const ServiceDefinition*> Services() const;

 private:
  struct Entry {
    ServiceDefinition definition;
    bool from_api = false;
  };
  // Changes that replace `before` (may be null) by `after` (may be null).
  std::vector<catalog::Change> Replace(const ServiceDefinition* before,
                                       const ServiceDefinition* after);

  catalog::Node node_;
  std::map<std::string, Entry> services_;         // by service id
  std::map<std::string, catalog::Check> checks_;  // by check id, current results
};

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_LOCAL_STATE_H_
