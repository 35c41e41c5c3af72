// The agent's health checks, run as Consul runs them, on a libuv loop owned
// by the caller's thread (every method must be called from that thread):
//
//  - script ("args"): the program runs without a shell, in its own session
//    and process group, stdout and stderr merged into one pipe of which the
//    first 4 KiB are kept. Exit 0 passing, 1 warning, anything else (or a
//    signal) critical. After `timeout` the whole process group is SIGKILLed
//    and the result is critical "Timed out (10s) running check".
//  - http: `method` on the URL with `header`, through libcurl's multi
//    interface driven by the loop (no thread, no blocking). 2xx passing,
//    429 warning, any other status or no answer critical; output
//    "HTTP GET <url>: 200 OK Output: <first 4 KiB of the body>".
//  - tcp: connect to host:port ("10.0.0.1:80", "[::1]:80", "localhost:80":
//    a name is looked up and its addresses tried in turn);
//    passing "TCP connect <addr>: Success", else critical with the error.
//  - ttl: critical ("TTL expired") unless UpdateTtl() is called within
//    `ttl` of the previous update (or of Add()).
//  - none: keeps its status until UpdateTtl() changes it.
//
// Probes (script, http, tcp) run at fixed ticks of `interval` starting at a
// random stagger within the first interval, as Consul staggers them; a tick
// that comes while the previous run is still going is skipped, as are ticks
// missed by a busy loop, so runs never pile up nor drift. Their results go
// through Consul's thresholds: a passing or warning result counts as a
// success and a critical one as a failure; a success is applied only once it
// is the success_before_passing-th in a row, a failure only once it is the
// failures_before_critical-th in a row (0 and 1 both mean at once); a result
// not applied changes nothing, not even the output. TTL and API updates
// bypass the thresholds.
#ifndef SVCDNS_AGENT_CHECK_RUNNER_H_
#define SVCDNS_AGENT_CHECK_RUNNER_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/service_definition.h"
#include "catalog/model.h"

namespace svcdns::agent {

namespace internal {
class CurlMulti;
struct ProbeResult;
}  // namespace internal

struct CheckStatus {
  std::string id;
  catalog::Health status = catalog::Health::kCritical;
  std::string output;
  // When it last became critical; absl::InfiniteFuture() while it is not.
  absl::Time critical_since = absl::InfiniteFuture();
  uint64_t runs = 0;  // probe runs completed (whether applied or not)
};

class CheckRunner {
 public:
  // Called from the loop, in order, once per status change, and for a new
  // output alone at most once per Options::output_sync_interval (at the
  // first result after it: Consul's check_update_interval; read the latest
  // with Get()); never from inside another CheckRunner method. It may call
  // any method of the runner but must not destroy it.
  using Listener = std::function<void(const std::string& check_id,
                                      catalog::Health status,
                                      const std::string& output)>;

  struct Options {
    // The first run of a probe comes after a random pause in
    // [0, min(interval, max_stagger)).
    absl::Duration max_stagger = absl::InfiniteDuration();
    // How often a new output alone (the status the same) is passed on:
    // every result of a busy check would otherwise be an update to send.
    // Zero: every new output.
    absl::Duration output_sync_interval = absl::Minutes(5);
  };

  CheckRunner(uv_loop_t* loop, Listener on_change);
  CheckRunner(uv_loop_t* loop, Listener on_change, Options options);
  // Close()s. The loop must then run until it ends to free the closed
  // handles and reap the scripts it killed.
  ~CheckRunner();

  CheckRunner(const CheckRunner&) = delete;
  CheckRunner& operator=(const CheckRunner&) = delete;

  // Starts a check with def.check.status as its status (no listener call for
  // it); a check with the same id is replaced, as Consul re-registers.
  // INVALID_ARGUMENT if the definition lacks what its kind needs (an id,
  // args, a URL, a positive interval or ttl), FAILED_PRECONDITION after
  // Close().
  absl::Status Add(const CheckDefinition& def);
  // Stops a check and kills its running script; false if unknown.
  bool Remove(const std::string& check_id);

  // PUT /v1/agent/check/pass|warn|fail: sets the status of a TTL check
  // (restarting its TTL) or of a check without a probe. NOT_FOUND if
  // unknown, FAILED_PRECONDITION for a script, HTTP or TCP check.
  absl::Status UpdateTtl(const std::string& check_id, catalog::Health status,
                         const std::string& output);

  std::optional<CheckStatus> Get(const std::string& check_id) const;
  std::vector<CheckStatus> Statuses() const;  // sorted by id
  // When the check became critical; absl::InfiniteFuture() if it is not
  // critical or unknown. The agent deregisters services after
  // deregister_critical_service_after.
  absl::Time CriticalSince(const std::string& check_id) const;
  // Probe runs completed; 0 if unknown.
  uint64_t RunCount(const std::string& check_id) const;

  // Stops every check, kills running scripts and closes every handle; the
  // loop can then end. Idempotent; nothing is reported after it.
  void Close();

 private:
  struct Entry;
  struct Notice {
    uint64_t serial;
    std::string id;
    catalog::Health status;
    std::string output;
  };

  void Schedule(Entry* e, bool first);
  void OnTick(Entry* e);
  void OnProbeResult(Entry* e, internal::ProbeResult result);
  void OnTtlExpired(Entry* e);
  void SetStatus(Entry* e, catalog::Health status, std::string output);
  void Stop(Entry* e);
  void DeliverNotices();

  uv_loop_t* loop_;
  Listener listener_;
  Options options_;
  bool closed_ = false;
  uint64_t next_serial_ = 1;
  std::map<std::string, std::unique_ptr<Entry>> checks_;
  internal::CurlMulti* curl_ = nullptr;  // made by the first HTTP check
  uv_timer_t* notify_timer_ = nullptr;
  std::vector<Notice> notices_;
  std::mt19937_64 random_;
};

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_CHECK_RUNNER_H_
