// The read-only HTTP API on --http-addr (libmicrohttpd, one internal polling
// thread): Consul-shaped JSON with X-Consul-Index, and blocking queries
// (?index=N&wait=D) parked with MHD_suspend_connection, so hundreds of
// watchers cost no thread each. libmicrohttpd was chosen for that
// suspend/resume, its small size and its Debian package.
#ifndef SVCDNS_SERVER_HTTP_API_H_
#define SVCDNS_SERVER_HTTP_API_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "agent/agent.h"
#include "server/consul_json.h"

namespace svcdns::server {

class HttpApi {
 public:
  HttpApi();
  ~HttpApi();

  absl::Status Start(const std::string& address);  // "HOST:PORT"; port 0 picks one
  void Stop();
  int port() const;

  // Replaces the view and wakes blocking queries it satisfies. Any thread.
  void Publish(std::shared_ptr<const CatalogView> view);
  // Answers blocking queries whose wait is over. Call every ~100 ms.
  void ExpireWaits();
  // Routes the agent's endpoints (registration, checks, reload) to `agent`.
  // Call before Start().
  void ServeAgent(agent::Agent* agent);
  // Serves GET /metrics from `render`. Call before Start().
  void ServeMetrics(std::function<std::string()> render);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_HTTP_API_H_
