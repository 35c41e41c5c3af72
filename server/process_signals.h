// SIGHUP (reload) and SIGTERM/SIGINT (stop) on a libuv loop, for `serve`
// and `agent`. Install it before anything listens: a signal sent the moment
// the process says it is ready must find its handler.
#ifndef SVCDNS_SERVER_PROCESS_SIGNALS_H_
#define SVCDNS_SERVER_PROCESS_SIGNALS_H_

#include <uv.h>

#include <functional>

namespace svcdns::server {

class ProcessSignals {
 public:
  // `on_stop` runs once, after the signal handles are closed.
  ProcessSignals(uv_loop_t* loop, std::function<void()> on_reload,
                 std::function<void(int signum)> on_stop);
  ProcessSignals(const ProcessSignals&) = delete;
  ProcessSignals& operator=(const ProcessSignals&) = delete;

 private:
  void Close();

  uv_signal_t hup_, term_, intr_;
  std::function<void()> on_reload_;
  std::function<void(int)> on_stop_;
  bool closed_ = false;
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_PROCESS_SIGNALS_H_
