#include "server/process_signals.h"

#include <csignal>

namespace svcdns::server {

ProcessSignals::ProcessSignals(uv_loop_t* loop, std::function<void()> on_reload,
                               std::function<void(int)> on_stop)
    : on_reload_(std::move(on_reload)), on_stop_(std::move(on_stop)) {
  for (uv_signal_t* s : {&hup_, &term_, &intr_}) {
    uv_signal_init(loop, s);
    s->data = this;
  }
  uv_signal_start(&hup_, [](uv_signal_t* s, int) {
    static_cast<ProcessSignals*>(s->data)->on_reload_();
  }, SIGHUP);
  auto stop = [](uv_signal_t* s, int signum) {
    auto* self = static_cast<ProcessSignals*>(s->data);
    if (self->closed_) return;
    self->Close();
    self->on_stop_(signum);
  };
  uv_signal_start(&term_, stop, SIGTERM);
  uv_signal_start(&intr_, stop, SIGINT);
}

void ProcessSignals::Close() {
  closed_ = true;
  for (uv_signal_t* s : {&hup_, &term_, &intr_}) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  }
}

}  // namespace svcdns::server
