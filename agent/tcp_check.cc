// TCP checks: a connect to a numeric address with a timeout, closed at once.
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/check_probe.h"

namespace svcdns::agent::internal {
namespace {

using catalog::Health;

// "1.2.3.4:80" or "[::1]:80" into `addr`; false if it is neither.
bool ParseHostPort(absl::string_view text, sockaddr_storage* addr) {
  size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view host = text.substr(0, colon);
  uint32_t port;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port > 65535) return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string h(host.substr(1, host.size() - 2));
    return uv_ip6_addr(h.c_str(), static_cast<int>(port),
                       reinterpret_cast<sockaddr_in6*>(addr)) == 0;
  }
  std::string h(host);
  return uv_ip4_addr(h.c_str(), static_cast<int>(port),
                     reinterpret_cast<sockaddr_in*>(addr)) == 0;
}

class TcpRun : public ProbeRun {
 public:
  TcpRun(ProbeDone done, const CheckDefinition& def)
      : ProbeRun(std::move(done)), target_(def.tcp), timeout_(def.timeout) {}

  void Start(uv_loop_t* loop) {
    uv_timer_init(loop, &timer_);
    uv_tcp_init(loop, &tcp_);
    timer_.data = this;
    tcp_.data = this;
    connect_.data = this;
    sockaddr_storage addr = {};
    if (!ParseHostPort(target_, &addr)) {
      Finish(Health::kCritical, "invalid address (a numeric host:port is required)");
      return;
    }
    int r = uv_tcp_connect(&connect_, &tcp_, reinterpret_cast<const sockaddr*>(&addr),
                           OnConnect);
    if (r != 0) {
      Finish(Health::kCritical, uv_strerror(r));
      return;
    }
    uv_timer_start(&timer_, OnTimeout,
                   static_cast<uint64_t>(std::max<int64_t>(
                       1, absl::ToInt64Milliseconds(timeout_))),
                   0);
  }

  void Cancel() override {
    Forget();
    if (!finished_) Finish(Health::kCritical, "cancelled");
  }

 private:
  static void OnConnect(uv_connect_t* req, int status) {
    auto* self = static_cast<TcpRun*>(req->data);
    if (self->finished_) return;  // cancelled or timed out: closing
    if (status == 0) {
      self->Finish(Health::kPassing, "Success");
    } else {
      self->Finish(Health::kCritical, uv_strerror(status));
    }
  }

  static void OnTimeout(uv_timer_t* t) {
    auto* self = static_cast<TcpRun*>(t->data);
    self->Finish(Health::kCritical, "i/o timeout");
  }

  void Finish(Health status, absl::string_view what) {
    finished_ = true;
    result_.status = status;
    result_.output = absl::StrCat("TCP connect ", target_, ": ", what);
    uv_timer_stop(&timer_);
    open_handles_ = 2;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed<TcpRun>);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClosed<TcpRun>);
  }

  std::string target_;
  absl::Duration timeout_;
  uv_timer_t timer_;
  uv_tcp_t tcp_;
  uv_connect_t connect_;
  bool finished_ = false;
};

}  // namespace

ProbeRun* StartTcpRun(uv_loop_t* loop, const CheckDefinition& def, ProbeDone done) {
  auto* run = new TcpRun(std::move(done), def);
  run->Start(loop);
  return run;
}

}  // namespace svcdns::agent::internal
