#include "server/serve.h"

#include <sys/resource.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/agent.h"
#include "base/log.h"
#include "base/systemd_notify.h"
#include "catalog/catalog_file.h"
#include "catalog/validation.h"
#include "server/control_plane_sched.h"
#include "server/dns_server.h"
#include "server/http_api.h"
#include "server/local_agent_transport.h"
#include "server/malloc_policy.h"
#include "server/metrics.h"
#include "server/process_signals.h"
#include "server/uv_handle.h"

namespace svcdns::server {

absl::StatusOr<catalog::Catalog> LoadCatalogSources(const ServeOptions& options) {
  if (options.catalog_file.empty()) return catalog::Catalog{};
  return catalog::LoadCatalogFile(options.catalog_file);
}

namespace {

// The main thread's loop: signals, reloads and the catalog owner.
struct ServeLoop {
  ServeOptions* options;
  CatalogOwner* owner;
  HttpApi* http;
  agent::Agent* agent;  // the server's own node, with --config-dir
  uv_timer_t* http_waits = nullptr;
};

// Loads the file sources and publishes them. On failure the published
// snapshot stays as it was.
absl::Status Reload(ServeLoop& loop) {
  absl::Time start = absl::Now();
  auto loaded = LoadCatalogSources(*loop.options);
  if (!loaded.ok()) return loaded.status();
  size_t nodes = loaded->nodes.size();
  if (auto s = loop.owner->SetFileNodes(std::move(loaded->nodes), loaded->index); !s.ok()) {
    return s;
  }
  SVCDNS_LOG(kInfo, "snapshot_published", "index=", loop.owner->published_index(),
             " file_nodes=", nodes,
             " build_ms=", absl::ToDoubleMilliseconds(absl::Now() - start));
  return absl::OkStatus();
}

// Each TCP client (up to --tcp-max-connections per worker) and each pending
// forward (a socket of its own) takes a descriptor: allow as many as the
// hard limit does, not the soft one (often 1024) a shell hands down.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

absl::Status RunServe(ServeOptions options) {
  KeepFreedMemoryMapped();
  RaiseOpenFileLimit();
  std::vector<ListenAddress> addresses;
  for (const std::string& text : options.dns_addrs) {
    auto address = ParseListenAddress(text);
    if (!address.ok()) return address.status();
    addresses.push_back(*address);
  }
  if (options.workers <= 0) {
    options.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  options.owner.server_node = options.node;
  uv_loop_t* uv = uv_default_loop();
  catalog::SnapshotPublisher publisher;
  CatalogOwner owner(uv, options.owner, options.snapshot, &publisher);
  HttpApi http;
  std::unique_ptr<agent::Agent> local_agent;
  ServeLoop loop{&options, &owner, &http, nullptr};
  ProcessSignals signals(
      uv,
      [&loop] {
        SVCDNS_LOG(kInfo, "reload", "signal=SIGHUP");
        NotifyReloading();
        if (loop.agent != nullptr) {
          if (auto status = loop.agent->Reload(); !status.ok()) {
            SVCDNS_LOG(kError, "reload_failed", "keeping=previous_services error=",
                       Quote(status.message()));
          }
        }
        if (auto status = Reload(loop); !status.ok()) {
          SVCDNS_LOG(kError, "reload_failed", "keeping=previous_snapshot error=",
                     Quote(status.message()));
        }
        NotifyReady("reloaded");
      },
      [&loop](int signum) {
        SVCDNS_LOG(kInfo, "stopping", "signal=", signum);
        if (loop.agent != nullptr) loop.agent->Stop(/*leave=*/false);
        loop.owner->Drain();
        loop.owner->Close();
        CloseHandle(loop.http_waits);
      });
  // The HTTP API's view of the catalog, made only for an API that serves it.
  if (!options.http_addr.empty()) {
    owner.OnPublish([&](std::shared_ptr<const catalog::SharedCatalog> catalog) {
      auto view = std::make_shared<CatalogView>();
      view->index = catalog->index;
      view->local_datacenter = options.snapshot.datacenter;
      view->node = options.node;
      view->advertise = options.snapshot.advertise;
      view->catalog = std::move(catalog);
      view->members = owner.store().Members();
      http.Publish(std::move(view));
    });
  }
  if (auto status = owner.Restore(); !status.ok()) return status;
  if (auto status = Reload(loop); !status.ok()) return status;
  if (!options.config_dir.empty()) {
    // The server's own node, run by the same agent logic as `svcdns agent`
    // (checks included), speaking to the catalog owner directly.
    agent::AgentOptions agent_options;
    agent_options.node.name = options.node;
    agent_options.node.address = options.snapshot.advertise;
    agent_options.node.datacenter = options.snapshot.datacenter;
    agent_options.config_dir = options.config_dir;
    agent_options.data_dir = options.owner.data_dir;
    local_agent = std::make_unique<agent::Agent>(uv, agent_options);
    std::vector<std::unique_ptr<agent::Transport>> transports;
    transports.push_back(
        std::make_unique<LocalAgentTransport>(owner.queue(), local_agent->shared_state()));
    if (auto status = local_agent->Start(std::move(transports)); !status.ok()) return status;
    owner.Drain();  // answer for the local services from the first query on
    if (auto status = owner.PublishNow(); !status.ok()) return status;
    http.ServeAgent(local_agent.get());
    loop.agent = local_agent.get();
  }

  DnsServer server(options.worker, publisher);
  if (auto status = server.Start(std::move(addresses), options.workers); !status.ok()) {
    return status;
  }
  IngestServer ingest;
  if (!options.ingest.address.empty()) {
    if (auto status = ingest.Start(options.ingest, owner.queue()); !status.ok()) return status;
  }
  if (!options.http_addr.empty()) {
    http.ServeMetrics([&] { return RenderMetrics(server, owner); });
    if (auto status = http.Start(options.http_addr); !status.ok()) return status;
    loop.http_waits = new uv_timer_t;
    loop.http_waits->data = &http;
    uv_timer_init(uv, loop.http_waits);
    uv_timer_start(loop.http_waits, [](uv_timer_t* t) {
      static_cast<HttpApi*>(t->data)->ExpireWaits();
    }, 100, 100);
  }
  std::vector<std::string> bound;
  for (const ListenAddress& a : server.addresses()) bound.push_back(a.ToString());
  SVCDNS_LOG(kInfo, "listening", "dns=", absl::StrJoin(bound, ","),
             " ingest=", options.ingest.address.empty() ? "off" : absl::StrCat(
                 options.ingest.address.substr(0, options.ingest.address.rfind(':')), ":",
                 ingest.port()),
             " http=", options.http_addr.empty() ? "off" : absl::StrCat(
                 options.http_addr.substr(0, options.http_addr.rfind(':')), ":", http.port()),
             " workers=", options.workers, " domain=", options.snapshot.domain,
             " datacenter=", options.snapshot.datacenter, " node=", options.node);

  NotifyReady(absl::StrCat("serving ", absl::StrJoin(bound, ",")));
  RunAsControlPlane("main");  // the owner's loop; the workers run already
  uv_run(uv, UV_RUN_DEFAULT);
  NotifyStopping();

  // Ending the streams needs the owner to release them: drain while the
  // ingest server shuts down.
  std::atomic<bool> ingest_down{false};
  std::thread shutdown([&] {
    ingest.Shutdown();
    ingest_down = true;
  });
  while (!ingest_down) {
    owner.Drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  shutdown.join();
  owner.Drain();
  http.Stop();
  server.Stop();
  uv_run(uv, UV_RUN_NOWAIT);  // close callbacks
  uv_loop_close(uv);
  SVCDNS_LOG(kInfo, "stopped");
  return absl::OkStatus();
}

}  // namespace svcdns::server
