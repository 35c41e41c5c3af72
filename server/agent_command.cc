#include "server/agent_command.h"

#include <uv.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "base/systemd_notify.h"
#include "catalog/validation.h"
#include "server/http_api.h"
#include "server/process_signals.h"
#include "server/uv_handle.h"

namespace svcdns::server {
namespace {

}  // namespace

absl::Status RunAgent(AgentCommandOptions options) {
  if (auto s = catalog::ValidateNode(options.agent.node); !s.ok()) return s;
  uv_loop_t* uv = uv_default_loop();
  agent::Agent agent(uv, options.agent);
  uv_timer_t* http_waits = nullptr;
  ProcessSignals signals(
      uv,
      [&agent] {
        SVCDNS_LOG(kInfo, "reload", "signal=SIGHUP");
        if (auto status = agent.Reload(); !status.ok()) {
          SVCDNS_LOG(kError, "reload_failed", "keeping=previous_services error=",
                     Quote(status.message()));
        }
      },
      [&agent, &http_waits](int signum) {
        SVCDNS_LOG(kInfo, "stopping", "signal=", signum, " leaving=true");
        agent.Stop(/*leave=*/true);
        CloseHandle(http_waits);
      });

  auto credentials = agent::MakeChannelCredentials(options.join_options);
  if (!credentials.ok()) return credentials.status();
  std::vector<std::unique_ptr<agent::Transport>> transports;
  for (const std::string& server : options.join) {
    transports.push_back(std::make_unique<agent::StreamClient>(
        server, options.join_options, *credentials, agent.shared_state()));
  }

  // /v1/health/* and /v1/catalog/* answer for this node, as a Consul agent's
  // local view would.
  HttpApi http;
  http.ServeAgent(&agent);
  uint64_t version = 0;
  agent.OnChange([&](const catalog::NodeState& state) {
    auto view = std::make_shared<CatalogView>();
    view->index = ++version;
    view->local_datacenter = options.agent.node.datacenter;
    view->node = options.agent.node.name;
    view->advertise = options.agent.node.address;
    auto catalog = std::make_shared<catalog::SharedCatalog>();
    catalog->index = view->index;
    catalog->nodes.push_back(std::make_shared<const catalog::NodeState>(state));
    view->catalog = std::move(catalog);
    catalog::Member self;
    self.name = state.node.name;
    self.address = state.node.address;
    self.datacenter = options.agent.node.datacenter;
    view->members.push_back(self);
    http.Publish(std::move(view));
  });
  if (auto status = agent.Start(std::move(transports)); !status.ok()) return status;
  if (!options.http_addr.empty()) {
    if (auto status = http.Start(options.http_addr); !status.ok()) return status;
    http_waits = new uv_timer_t;
    http_waits->data = &http;
    uv_timer_init(uv, http_waits);
    uv_timer_start(http_waits, [](uv_timer_t* t) {
      static_cast<HttpApi*>(t->data)->ExpireWaits();
    }, 100, 100);
  }
  SVCDNS_LOG(kInfo, "agent_started", "node=", options.agent.node.name,
             " address=", options.agent.node.address,
             " join=", absl::StrJoin(options.join, ","),
             " http=", options.http_addr.empty() ? "off" : absl::StrCat(
                 options.http_addr.substr(0, options.http_addr.rfind(':')), ":", http.port()));
  NotifyReady(absl::StrCat("agent of ", options.agent.node.name));
  uv_run(uv, UV_RUN_DEFAULT);
  NotifyStopping();
  http.Stop();
  uv_loop_close(uv);
  SVCDNS_LOG(kInfo, "stopped");
  return absl::OkStatus();
}

}  // namespace svcdns::server
