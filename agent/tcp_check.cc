// TCP checks: a connect with a timeout, closed at once. A host name is
// looked up first, and its addresses are tried in turn until one accepts
// (as Consul's Go dialer does: "localhost" may give ::1 first, and many
// services listen on IPv4 only).
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/check_probe.h"

namespace svcdns::agent::internal {
namespace {

using catalog::Health;

// "host:port" or "[v6]:port" into its host and port; false if it is neither.
bool SplitHostPort(absl::string_view text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  uint32_t number;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &number) || number > 65535) return false;
  absl::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  *host = std::string(h);
  *port = static_cast<uint16_t>(number);
  return !host->empty();
}

// A numeric host into `addr`; false if it is a name.
bool ParseNumeric(const std::string& host, uint16_t port, sockaddr_storage* addr) {
  return uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(addr)) == 0 ||
         uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(addr)) == 0;
}

class TcpRun : public ProbeRun {
 public:
  TcpRun(ProbeDone done, const CheckDefinition& def)
      : ProbeRun(std::move(done)), target_(def.tcp), timeout_(def.timeout) {}

  void Start(uv_loop_t* loop) {
    loop_ = loop;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    open_handles_ = 1;
    // The timeout covers the whole dial: the lookup and every connect.
    uv_timer_start(&timer_, OnTimeout,
                   static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout_))),
                   0);
    std::string host;
    uint16_t port;
    if (!SplitHostPort(target_, &host, &port)) {
      Finish(Health::kCritical, "invalid address (host:port is required)");
      return;
    }
    sockaddr_storage addr = {};
    if (ParseNumeric(host, port, &addr)) {
      addresses_.push_back(addr);
      TryNext();
      return;
    }
    addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    resolve_.data = this;
    ++open_handles_;
    resolving_ = true;
    int r = uv_getaddrinfo(loop, &resolve_, OnResolved, host.c_str(),
                           std::to_string(port).c_str(), &hints);
    if (r != 0) {
      resolving_ = false;
      --open_handles_;
      Finish(Health::kCritical, absl::StrCat("lookup ", host, ": ", uv_strerror(r)));
    }
  }

  void Cancel() override {
    Forget();
    if (!finished_) Finish(Health::kCritical, "cancelled");
  }

 private:
  // One connect: its handle and request, freed when the handle closes (after
  // the request's callback, which libuv calls first).
  struct Attempt {
    uv_tcp_t tcp;
    uv_connect_t connect;
  };

  static void OnResolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
    auto* self = static_cast<TcpRun*>(req->data);
    self->resolving_ = false;
    if (!self->finished_) {
      if (status != 0) {
        self->Finish(Health::kCritical,
                     absl::StrCat("lookup ", self->target_, ": ", uv_strerror(status)));
      } else {
        for (addrinfo* a = result; a != nullptr; a = a->ai_next) {
          sockaddr_storage addr = {};
          memcpy(&addr, a->ai_addr, std::min<size_t>(a->ai_addrlen, sizeof(addr)));
          self->addresses_.push_back(addr);
        }
        self->TryNext();
      }
    }
    uv_freeaddrinfo(result);
    self->Released();  // may free this run: nothing after it
  }

  // Connects to the next address, or ends with the last error.
  void TryNext() {
    while (next_ < addresses_.size()) {
      const sockaddr_storage& addr = addresses_[next_++];
      auto* attempt = new Attempt;
      uv_tcp_init(loop_, &attempt->tcp);
      attempt->tcp.data = this;
      attempt->connect.data = this;
      ++open_handles_;
      int r = uv_tcp_connect(&attempt->connect, &attempt->tcp,
                             reinterpret_cast<const sockaddr*>(&addr), OnConnect);
      if (r == 0) {
        current_ = attempt;
        return;
      }
      last_error_ = r;
      Close(attempt);
    }
    Finish(Health::kCritical, addresses_.empty() ? "no address" : uv_strerror(last_error_));
  }

  static void OnConnect(uv_connect_t* req, int status) {
    auto* self = static_cast<TcpRun*>(req->data);
    if (self->finished_) return;  // cancelled or timed out: closing
    auto* attempt = self->current_;
    self->current_ = nullptr;
    if (status == 0) {
      self->current_ = attempt;  // closed by Finish
      self->Finish(Health::kPassing, "Success");
      return;
    }
    self->last_error_ = status;
    Close(attempt);
    self->TryNext();
  }

  static void OnTimeout(uv_timer_t* t) {
    auto* self = static_cast<TcpRun*>(t->data);
    self->Finish(Health::kCritical, "i/o timeout");
  }

  static void Close(Attempt* attempt) {
    uv_close(reinterpret_cast<uv_handle_t*>(&attempt->tcp), [](uv_handle_t* handle) {
      auto* self = static_cast<TcpRun*>(handle->data);
      delete reinterpret_cast<Attempt*>(handle);  // tcp is its first member
      self->Released();
    });
  }

  void Finish(Health status, absl::string_view what) {
    finished_ = true;
    result_.status = status;
    result_.output = absl::StrCat("TCP connect ", target_, ": ", what);
    uv_timer_stop(&timer_);
    if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_));  // OnResolved releases it
    if (current_ != nullptr) Close(current_);
    current_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed<TcpRun>);
  }

  std::string target_;
  absl::Duration timeout_;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t timer_;
  uv_getaddrinfo_t resolve_;
  bool resolving_ = false;
  std::vector<sockaddr_storage> addresses_;
  size_t next_ = 0;
  Attempt* current_ = nullptr;  // the connect in progress
  int last_error_ = 0;
  bool finished_ = false;
};

}  // namespace

ProbeRun* StartTcpRun(uv_loop_t* loop, const CheckDefinition& def, ProbeDone done) {
  auto* run = new TcpRun(std::move(done), def);
  run->Start(loop);
  return run;
}

}  // namespace svcdns::agent::internal
