// HTTP checks: libcurl's multi interface driven by the loop, as in curl's
// multi-uv example: curl says which sockets to watch (a uv_poll_t each) and
// when to call it back (one uv_timer_t); nothing blocks, so any number of
// checks proceed together.
#include <curl/curl.h>

#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/check_probe.h"
#include "base/log.h"

namespace svcdns::agent::internal {

namespace {

struct SocketContext {
  uv_poll_t poll;
  curl_socket_t fd;
  CurlMulti* multi;
};

// Go's http.StatusText for the codes a health endpoint is likely to send,
// for status lines without a reason phrase (HTTP/2).
const char* StatusText(long code) {
  switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

}  // namespace

class CurlMulti {
 public:
  explicit CurlMulti(uv_loop_t* loop) : loop_(loop) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, OnCurlTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
  }

  uv_loop_t* loop() const { return loop_; }
  bool Add(CURL* easy) { return curl_multi_add_handle(multi_, easy) == CURLM_OK; }
  void Remove(CURL* easy) { curl_multi_remove_handle(multi_, easy); }

  void Close() {
    cleaning_ = true;
    curl_multi_cleanup(multi_);
    multi_ = nullptr;
    for (SocketContext* c : sockets_) CloseSocket(c);
    sockets_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) {
      auto* self = static_cast<CurlMulti*>(h->data);
      delete reinterpret_cast<uv_timer_t*>(h);
      delete self;
    });
  }

 private:
  static void CloseSocket(SocketContext* c) {
    uv_poll_stop(&c->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->poll), [](uv_handle_t* h) {
      delete static_cast<SocketContext*>(h->data);
    });
  }

  static int OnSocket(CURL*, curl_socket_t fd, int action, void* userp, void* socketp) {
    auto* self = static_cast<CurlMulti*>(userp);
    auto* c = static_cast<SocketContext*>(socketp);
    if (action == CURL_POLL_REMOVE) {
      if (c != nullptr) {
        self->sockets_.erase(c);
        CloseSocket(c);
        if (!self->cleaning_) curl_multi_assign(self->multi_, fd, nullptr);
      }
      return 0;
    }
    if (c == nullptr) {
      c = new SocketContext;
      c->fd = fd;
      c->multi = self;
      if (uv_poll_init_socket(self->loop_, &c->poll, fd) != 0) {
        delete c;
        return -1;
      }
      c->poll.data = c;
      self->sockets_.insert(c);
      curl_multi_assign(self->multi_, fd, c);
    }
    int events = 0;
    if (action & CURL_POLL_IN) events |= UV_READABLE;
    if (action & CURL_POLL_OUT) events |= UV_WRITABLE;
    uv_poll_start(&c->poll, events, OnPoll);
    return 0;
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* c = static_cast<SocketContext*>(h->data);
    int flags = 0;
    if (status < 0) {
      flags = CURL_CSELECT_ERR;
    } else {
      if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
      if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    c->multi->Perform(c->fd, flags);  // may close `c` (freed later)
  }

  static int OnCurlTimer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<CurlMulti*>(userp);
    if (timeout_ms < 0) {
      uv_timer_stop(self->timer_);
    } else {
      uv_timer_start(self->timer_, [](uv_timer_t* t) {
        static_cast<CurlMulti*>(t->data)->Perform(CURL_SOCKET_TIMEOUT, 0);
      }, static_cast<uint64_t>(timeout_ms), 0);
    }
    return 0;
  }

  void Perform(curl_socket_t fd, int flags);

  uv_loop_t* loop_;
  CURLM* multi_;
  uv_timer_t* timer_;
  bool cleaning_ = false;
  absl::flat_hash_set<SocketContext*> sockets_;
};

namespace {

class HttpRun : public ProbeRun {
 public:
  HttpRun(CurlMulti* multi, const CheckDefinition& def, ProbeDone done)
      : multi_(multi), url_(def.http), method_(def.method), done_(std::move(done)) {
    if (method_.empty()) method_ = "GET";
  }

  void Start(const CheckDefinition& def) {
    easy_ = curl_easy_init();
    if (easy_ == nullptr) {
      FailLater("curl_easy_init failed");
      return;
    }
    error_[0] = '\0';
    curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(
                         1, absl::ToInt64Milliseconds(def.timeout))));
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
    // As Consul's checks: a new connection each time, redirects followed.
    curl_easy_setopt(easy_, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy_, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (method_ == "HEAD") {
      curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
    } else if (method_ != "GET") {
      curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, method_.c_str());
    }
    bool user_agent = false, accept = false;
    for (const auto& [name, values] : def.header) {
      if (absl::EqualsIgnoreCase(name, "User-Agent")) user_agent = true;
      if (absl::EqualsIgnoreCase(name, "Accept")) accept = true;
      for (const std::string& value : values) {
        std::string line = absl::StrCat(name, ": ", value);
        headers_ = curl_slist_append(headers_, line.c_str());
      }
    }
    if (!user_agent) headers_ = curl_slist_append(headers_, "User-Agent: Consul Health Check");
    if (!accept) headers_ = curl_slist_append(headers_, "Accept: text/plain, text/*, */*");
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    if (def.tls_skip_verify) {
      curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!multi_->Add(easy_)) {
      FailLater("curl_multi_add_handle failed");
      return;
    }
    added_ = true;
  }

  void Cancel() override {
    if (fail_timer_ != nullptr) {
      uv_timer_stop(fail_timer_);
      CloseOwnedHandle(fail_timer_);
    }
    delete this;
  }

  // The transfer is over (curl's CURLMSG_DONE).
  void Complete(CURLcode code) {
    ProbeResult r;
    std::string prefix = absl::StrCat("HTTP ", method_, " ", url_, ": ");
    if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && body_full_)) {
      long status = 0;
      curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200 && status <= 299) {
        r.status = catalog::Health::kPassing;
      } else if (status == 429) {
        r.status = catalog::Health::kWarning;
      } else {
        r.status = catalog::Health::kCritical;
      }
      std::string status_text = status_line_;
      if (status_text.empty() || status_text.find(' ') == std::string::npos) {
        status_text = absl::StrCat(status, " ", StatusText(status));
      }
      r.output = absl::StrCat(prefix, status_text, " Output: ", body_);
    } else {
      r.status = catalog::Health::kCritical;
      r.output = absl::StrCat(prefix, error_[0] != '\0' ? error_ : curl_easy_strerror(code));
    }
    ProbeDone done = std::move(done_);
    delete this;
    if (done) done(std::move(r));
  }

  ~HttpRun() override {
    if (easy_ != nullptr) {
      if (added_) multi_->Remove(easy_);
      curl_easy_cleanup(easy_);
    }
    curl_slist_free_all(headers_);
  }

 private:
  void FailLater(absl::string_view what) {
    fail_output_ = absl::StrCat("HTTP ", method_, " ", url_, ": ", what);
    fail_timer_ = new uv_timer_t;
    uv_timer_init(multi_->loop(), fail_timer_);
    fail_timer_->data = this;
    uv_timer_start(fail_timer_, [](uv_timer_t* t) {
      auto* self = static_cast<HttpRun*>(t->data);
      CloseOwnedHandle(self->fail_timer_);
      self->fail_timer_ = nullptr;
      ProbeDone done = std::move(self->done_);
      ProbeResult r{catalog::Health::kCritical, std::move(self->fail_output_)};
      delete self;
      if (done) done(std::move(r));
    }, 0, 0);
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* userp) {
    auto* self = static_cast<HttpRun*>(userp);
    size_t total = size * n;
    size_t room = kMaxOutput - std::min(kMaxOutput, self->body_.size());
    if (total <= room) {
      self->body_.append(data, total);
      return total;
    }
    // Enough: keep the first 4 KiB and end the transfer, as Consul reads no more.
    self->body_.append(data, room);
    self->body_full_ = true;
    return 0;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* userp) {
    auto* self = static_cast<HttpRun*>(userp);
    absl::string_view line(data, size * n);
    if (absl::StartsWith(line, "HTTP/")) {  // a new response (after a redirect)
      size_t space = line.find(' ');
      self->status_line_ = space == absl::string_view::npos
                               ? ""
                               : std::string(absl::StripAsciiWhitespace(line.substr(space + 1)));
      self->body_.clear();
      self->body_full_ = false;
    }
    return size * n;
  }

  CurlMulti* multi_;
  std::string url_;
  std::string method_;
  ProbeDone done_;
  CURL* easy_ = nullptr;
  bool added_ = false;
  curl_slist* headers_ = nullptr;
  char error_[CURL_ERROR_SIZE];
  std::string status_line_;  // "200 OK"
  std::string body_;
  bool body_full_ = false;
  uv_timer_t* fail_timer_ = nullptr;
  std::string fail_output_;
};

}  // namespace

void CurlMulti::Perform(curl_socket_t fd, int flags) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURLcode code = msg->data.result;
    char* run = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &run);
    // Removes its handle and reports; nothing outside the runner's
    // bookkeeping runs from here (listeners are called from their own timer).
    reinterpret_cast<HttpRun*>(run)->Complete(code);
  }
}

ProbeRun* StartHttpRun(CurlMulti* multi, const CheckDefinition& def, ProbeDone done) {
  auto* run = new HttpRun(multi, def, std::move(done));
  run->Start(def);
  return run;
}

CurlMulti* NewCurlMulti(uv_loop_t* loop) { return new CurlMulti(loop); }

void CloseCurlMulti(CurlMulti* multi) { multi->Close(); }

}  // namespace svcdns::agent::internal
