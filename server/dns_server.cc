#include "server/dns_server.h"

#include <unistd.h>

namespace svcdns::server {

absl::Status DnsServer::Start(std::vector<ListenAddress> addresses, int workers) {
  std::vector<std::vector<int>> udp(workers), tcp(workers);
  auto close_all = [&] {
    for (auto& fds : udp) for (int fd : fds) close(fd);
    for (auto& fds : tcp) for (int fd : fds) close(fd);
  };
  for (ListenAddress& address : addresses) {
    for (int w = 0; w < workers; ++w) {
      auto u = BindReusePort(address, SOCK_DGRAM);
      if (!u.ok()) {
        close_all();
        return u.status();
      }
      udp[w].push_back(*u);
      if (address.port() == 0) address.set_port(BoundPort(*u));
      auto t = BindReusePort(address, SOCK_STREAM);
      if (!t.ok()) {
        close_all();
        return t.status();
      }
      tcp[w].push_back(*t);
    }
  }
  addresses_ = std::move(addresses);
  for (int w = 0; w < workers; ++w) {
    workers_.push_back(std::make_unique<DnsWorker>(options_, publisher_,
                                                   std::move(udp[w]), std::move(tcp[w])));
    workers_.back()->Start();
  }
  return absl::OkStatus();
}

void DnsServer::Stop() {
  for (auto& worker : workers_) worker->Stop();
  workers_.clear();
}

}  // namespace svcdns::server
