// The agent: owns its node's services (definition files, the registration
// API, --data-dir), runs their checks, and sends every change to its
// transports (streams to --join servers, or the server it runs inside).
// Everything runs on one libuv loop; HandleHttp may be called from any
// thread.
#ifndef SVCDNS_AGENT_AGENT_H_
#define SVCDNS_AGENT_AGENT_H_

#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/check_runner.h"
#include "agent/local_state.h"
#include "agent/loop_executor.h"
#include "agent/transport.h"

namespace svcdns::agent {

struct AgentOptions {
  catalog::Node node;       // name, address, datacenter, meta
  std::string config_dir;   // Consul-format definitions; may be empty
  std::string data_dir;     // API registrations persist here; may be empty
  // A check's new output alone is sent at most this often (Consul's
  // check_update_interval); a new status always at once.
  absl::Duration check_update_interval = absl::Minutes(5);
};

struct HttpReply {
  int status = 200;
  std::string body;  // JSON, or a message for errors
};

class Agent {
 public:
  Agent(uv_loop_t* loop, AgentOptions options);
  ~Agent();

  // Loads the definitions (a broken file fails the start, naming file and
  // field) and the persisted registrations, starts the checks, then the
  // transports.
  absl::Status Start(std::vector<std::unique_ptr<Transport>> transports);
  // Re-reads --config-dir; on error nothing changes.
  absl::Status Reload();
  // Tells the transports (leaving: the node goes away at once) and stops.
  void Stop(bool leave);

  // The registration API: PUT /v1/agent/service/register,
  // /v1/agent/service/deregister/:id, /v1/agent/check/pass|warn|fail/:id,
  // /v1/agent/reload; GET /v1/agent/services, /v1/agent/checks. nullopt:
  // not an agent path. Any thread but the loop's.
  std::optional<HttpReply> HandleHttp(const std::string& method, const std::string& path,
                                      const std::string& query_note, const std::string& body);

  // Called on the loop after each change, with the node's state.
  void OnChange(std::function<void(const catalog::NodeState&)> callback) {
    on_change_ = std::move(callback);
  }
  catalog::NodeState State() const { return state_.State(); }
  // What transports read their Sync from; pass it to them before Start().
  std::shared_ptr<VersionedState> shared_state() const { return shared_; }

 private:
  void Apply(std::vector<catalog::Change> changes);
  void StartChecks(const ServiceDefinition& definition);
  void StopChecks(const ServiceDefinition& definition);
  void OnCheck(const std::string& check_id, catalog::Health status, const std::string& output);
  void ReapCritical();
  void PersistRegistrations();
  void LoadRegistrations();
  HttpReply Register(const std::string& body);
  HttpReply Deregister(const std::string& id);
  HttpReply SetCheck(const std::string& id, catalog::Health status, const std::string& note);

  uv_loop_t* loop_;
  AgentOptions options_;
  LocalState state_;
  CheckRunner runner_;
  LoopExecutor executor_;
  std::shared_ptr<VersionedState> shared_;
  std::vector<std::unique_ptr<Transport>> transports_;
  std::map<std::string, std::string> api_bodies_;  // service id -> register body
  uv_timer_t* reaper_ = nullptr;
  std::function<void(const catalog::NodeState&)> on_change_;
  bool stopped_ = false;
};

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_AGENT_H_
