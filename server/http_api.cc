#include "server/http_api.h"

#include <microhttpd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/duration.h"
#include "base/log.h"
#include "server/listen_address.h"

namespace svcdns::server {
namespace {

constexpr absl::Duration kDefaultWait = absl::Minutes(5);
constexpr size_t kMaxBody = 1 << 20;
constexpr absl::Duration kMaxWait = absl::Minutes(10);

// One request's state across suspension.
struct Request {
  bool is_get = true;
  std::string body;
  bool too_large = false;
  bool parked = false;
  uint64_t index = 0;  // answer once the view's index passes this
  absl::Time deadline;
};

// A query argument; `present` is also true for a bare "?passing".
std::string Arg(MHD_Connection* c, const char* key, bool* present = nullptr) {
  const char* v = nullptr;
  size_t size = 0;
  bool found = MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
                                             &size) == MHD_YES;
  if (present != nullptr) *present = found;
  return v ? std::string(v, size) : "";
}

MHD_Result Reply(MHD_Connection* c, unsigned status, const std::string& body, uint64_t index,
                 const char* type = "application/json") {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "X-Consul-Index", absl::StrCat(index).c_str());
  MHD_add_response_header(r, "X-Consul-KnownLeader", "true");
  MHD_add_response_header(r, "X-Consul-LastContact", "0");
  MHD_Result result = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return result;
}

// The endpoint a path belongs to, its variable part written as :name.
std::string Endpoint(absl::string_view url) {
  for (const char* prefix :
       {"/v1/catalog/service/", "/v1/health/service/", "/v1/health/node/", "/v1/health/checks/",
        "/v1/agent/service/deregister/", "/v1/agent/check/pass/", "/v1/agent/check/warn/",
        "/v1/agent/check/fail/"}) {
    if (absl::StartsWith(url, prefix)) return absl::StrCat(prefix, ":name");
  }
  for (const char* path :
       {"/v1/catalog/services", "/v1/catalog/nodes", "/v1/catalog/datacenters", "/v1/agent/self",
        "/v1/agent/members", "/v1/agent/services", "/v1/agent/checks", "/v1/agent/reload",
        "/v1/agent/service/register", "/v1/status/leader", "/v1/status/peers", "/metrics"}) {
    if (url == path) return path;
  }
  return "other";
}

}  // namespace

struct HttpApi::Impl {
  MHD_Daemon* daemon = nullptr;
  int port = 0;
  std::mutex mu;
  std::shared_ptr<const CatalogView> view;
  std::vector<std::pair<MHD_Connection*, Request*>> parked;
  std::mt19937 rng{std::random_device{}()};

  std::shared_ptr<const CatalogView> View() {
    std::lock_guard<std::mutex> lock(mu);
    return view;
  }

  agent::Agent* agent = nullptr;
  // Requests by endpoint and status; only libmicrohttpd's one thread
  // touches it (the /metrics scrape included).
  std::map<std::pair<std::string, unsigned>, uint64_t> requests;

  MHD_Result Respond(MHD_Connection* c, const char* url, unsigned status, const std::string& body,
                     uint64_t index, const char* type = "application/json") {
    ++requests[{Endpoint(url), status}];
    return Reply(c, status, body, index, type);
  }

  std::string RenderRequests() const {
    std::string out =
        "# HELP svcdns_http_requests_total HTTP API requests by endpoint and status.\n"
        "# TYPE svcdns_http_requests_total counter\n";
    for (const auto& [key, n] : requests) {
      absl::StrAppend(&out, "svcdns_http_requests_total{endpoint=\"", key.first, "\",code=\"",
                      key.second, "\"} ", n, "\n");
    }
    return out;
  }
  std::function<std::string()> metrics;

  // A write to the agent, once its whole body has arrived.
  MHD_Result HandleWrite(MHD_Connection* c, const char* url, const char* method, Request* r) {
    uint64_t index = View()->index;
    if (r->too_large) return Respond(c, url, 413, "request body over 1 MiB\n", index, "text/plain");
    if (agent != nullptr) {
      auto reply = agent->HandleHttp(method, url, Arg(c, "note"), r->body);
      if (reply) {
        return Respond(c, url, reply->status, reply->body.empty() ? "" : reply->body + "\n", index,
                     reply->status == 200 ? "application/json" : "text/plain");
      }
    }
    return Respond(c, url, 405, "method not allowed\n", index, "text/plain");
  }

  MHD_Result Handle(MHD_Connection* c, const char* url, const char* method,
                    const char* upload, size_t* upload_size, void** state) {
    std::string verb(method);
    auto* request = static_cast<Request*>(*state);
    if (request == nullptr && verb != "GET" && verb != "HEAD") {
      request = new Request;
      request->is_get = false;
      *state = request;
      return MHD_YES;  // the body follows
    }
    if (request != nullptr && !request->is_get) {
      if (*upload_size != 0) {
        if (request->body.size() + *upload_size > kMaxBody) {
          request->too_large = true;
        } else {
          request->body.append(upload, *upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
      }
      return HandleWrite(c, url, method, request);
    }
    if (metrics && std::string(url) == "/metrics" && request == nullptr) {
      return Respond(c, url, 200, metrics() + RenderRequests(), View()->index,
                     "text/plain; version=0.0.4");
    }
    if (agent != nullptr && request == nullptr) {
      auto reply = agent->HandleHttp(verb, url, "", "");
      if (reply) return Respond(c, url, reply->status, reply->body + "\n", View()->index);
    }
    if (request == nullptr) {
      request = new Request;
      *state = request;
      bool blocking;
      std::string index_arg = Arg(c, "index", &blocking);
      if (blocking && !absl::SimpleAtoi(index_arg, &request->index)) {
        return Respond(c, url, 400, "index: not a number\n", 0, "text/plain");
      }
      absl::Duration wait = kDefaultWait;
      bool has_wait;
      std::string wait_arg = Arg(c, "wait", &has_wait);
      if (has_wait) {
        auto parsed = agent::ParseDuration(wait_arg);
        if (!parsed.ok()) return Respond(c, url, 400, "wait: not a duration like 30s\n", 0, "text/plain");
        wait = std::min(*parsed, kMaxWait);
      }
      // Consul adds up to wait/16 of jitter so that watchers spread out.
      std::uniform_int_distribution<int64_t> jitter(0, absl::ToInt64Milliseconds(wait) / 16);
      request->deadline = absl::Now() + wait + absl::Milliseconds(jitter(rng));
      std::lock_guard<std::mutex> lock(mu);
      if (blocking && request->index > 0 && view->index <= request->index) {
        request->parked = true;
        parked.emplace_back(c, request);
        MHD_suspend_connection(c);
        return MHD_YES;
      }
    }
    auto current = View();
    ViewQuery query;
    query.datacenter = Arg(c, "dc");
    query.tag = Arg(c, "tag");
    Arg(c, "passing", &query.passing);
    auto body = RenderPath(*current, url, query);
    if (!body) return Respond(c, url, 404, absl::StrCat("no such path: ", url, "\n"), current->index, "text/plain");
    bool pretty;
    Arg(c, "pretty", &pretty);
    return Respond(c, url, 200, body->dump(pretty ? 2 : -1) + "\n", current->index);
  }
};

HttpApi::HttpApi() : impl_(std::make_unique<Impl>()) {
  impl_->view = std::make_shared<CatalogView>();
}

HttpApi::~HttpApi() { Stop(); }

absl::Status HttpApi::Start(const std::string& address) {
  auto listen = ParseListenAddress(address);
  if (!listen.ok()) return listen.status();
  auto handler = [](void* cls, MHD_Connection* c, const char* url, const char* method,
                    const char*, const char* upload, size_t* upload_size, void** state) -> MHD_Result {
    return static_cast<Impl*>(cls)->Handle(c, url, method, upload, upload_size, state);
  };
  auto completed = [](void*, MHD_Connection*, void** state, MHD_RequestTerminationCode) {
    delete static_cast<Request*>(*state);
    *state = nullptr;
  };
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG;
  if (listen->family() == AF_INET6) flags |= MHD_USE_IPv6;
  impl_->daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, handler, impl_.get(),
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&listen->storage),
      MHD_OPTION_NOTIFY_COMPLETED,
      static_cast<MHD_RequestCompletedCallback>(completed), nullptr,
      MHD_OPTION_CONNECTION_LIMIT, 4096u,
      MHD_OPTION_CONNECTION_TIMEOUT, 900u,  // longer than the longest wait
      MHD_OPTION_END);
  if (impl_->daemon == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", address));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl_->daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl_->port = info ? info->port : listen->port();
  return absl::OkStatus();
}

void HttpApi::Stop() {
  if (impl_->daemon == nullptr) return;
  {
    // Resume everything parked, so the daemon can close it.
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [c, r] : impl_->parked) {
      r->parked = false;
      MHD_resume_connection(c);
    }
    impl_->parked.clear();
  }
  MHD_stop_daemon(impl_->daemon);
  impl_->daemon = nullptr;
}

int HttpApi::port() const { return impl_->port; }

void HttpApi::ServeAgent(agent::Agent* agent) { impl_->agent = agent; }

void HttpApi::ServeMetrics(std::function<std::string()> render) {
  impl_->metrics = std::move(render);
}

void HttpApi::Publish(std::shared_ptr<const CatalogView> view) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->view = std::move(view);
  std::erase_if(impl_->parked, [&](auto& entry) {
    if (impl_->view->index <= entry.second->index) return false;
    entry.second->parked = false;
    MHD_resume_connection(entry.first);
    return true;
  });
}

void HttpApi::ExpireWaits() {
  absl::Time now = absl::Now();
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::erase_if(impl_->parked, [&](auto& entry) {
    if (entry.second->deadline > now) return false;
    entry.second->parked = false;
    MHD_resume_connection(entry.first);
    return true;
  });
}

}  // namespace svcdns::server
