// Internal to the check runner (agent/check_runner.cc): one run of a probe
// (a script, an HTTP request, a TCP connect) on a libuv loop. Not for other
// callers; the public interface is agent/check_runner.h.
#ifndef SVCDNS_AGENT_CHECK_PROBE_H_
#define SVCDNS_AGENT_CHECK_PROBE_H_

#include <uv.h>

#include <cstddef>
#include <functional>
#include <string>

#include "agent/service_definition.h"
#include "catalog/model.h"

namespace svcdns::agent::internal {

// Consul's OutputMaxSize: the most output kept from a script, an HTTP body or
// an API update.
inline constexpr size_t kMaxOutput = 4096;

struct ProbeResult {
  catalog::Health status = catalog::Health::kCritical;
  std::string output;
};

using ProbeDone = std::function<void(ProbeResult)>;

// One run of a probe. Owns itself: it delivers its result through `done`
// (always later, from a loop callback, never from inside its start function)
// once every handle it used is closed, and frees itself just before that.
// Cancel() instead ends the run without a result (killing a script's process
// group), after which the run frees itself when libuv is done with it; the
// owner must drop its pointer at either moment.
class ProbeRun {
 public:
  virtual ~ProbeRun() = default;
  virtual void Cancel() = 0;

 protected:
  ProbeRun() = default;  // a run that delivers its result itself (HTTP)
  explicit ProbeRun(ProbeDone done) : done_(std::move(done)) {}

  // The close callback for every handle a run of type Run opened (each
  // handle's data is the run): the last one to close delivers result_,
  // unless the run was cancelled, and frees the run.
  template <typename Run>
  static void OnClosed(uv_handle_t* handle) {
    static_cast<ProbeRun*>(static_cast<Run*>(handle->data))->HandleClosed();
  }
  // For a handle or request a run frees itself: one fewer to wait for.
  void Released() { HandleClosed(); }
  // No result will be delivered (Cancel).
  void Forget() {
    cancelled_ = true;
    done_ = nullptr;
  }

  ProbeResult result_;
  int open_handles_ = 0;
  bool cancelled_ = false;

 private:
  void HandleClosed() {
    if (--open_handles_ > 0) return;
    ProbeDone done = std::move(done_);
    ProbeResult result = std::move(result_);
    bool deliver = !cancelled_;
    delete this;
    if (deliver && done) done(std::move(result));
  }

  ProbeDone done_;
};

class CurlMulti;

// The starters; `def` is read only during the call.
ProbeRun* StartScriptRun(uv_loop_t* loop, const CheckDefinition& def,
                         ProbeDone done);
ProbeRun* StartTcpRun(uv_loop_t* loop, const CheckDefinition& def,
                      ProbeDone done);
ProbeRun* StartHttpRun(CurlMulti* multi, const CheckDefinition& def,
                       ProbeDone done);

// A libcurl multi handle driven by the loop: a uv_poll_t per socket curl
// watches and one uv_timer_t for curl's timeouts.
CurlMulti* NewCurlMulti(uv_loop_t* loop);
// Every run started on it must be finished or cancelled first. Frees the
// multi once its handles are closed.
void CloseCurlMulti(CurlMulti* multi);

// Closes a handle allocated with `new`; the close callback deletes it.
template <typename T>
void CloseOwnedHandle(T* handle) {
  if (handle == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
}

}  // namespace svcdns::agent::internal

#endif  // SVCDNS_AGENT_CHECK_PROBE_H_
