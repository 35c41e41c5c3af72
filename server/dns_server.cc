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
    // Port 0: the kernel picks a UDP port, which TCP may not have free;
    // then pick again.
    bool pick = address.port() == 0;
    for (int attempt = 0;; ++attempt) {
      absl::Status status;
      size_t mark = udp[0].size();
      for (int w = 0; w < workers && status.ok(); ++w) {
        auto u = BindReusePort(address, SOCK_DGRAM);
        if (!u.ok()) {
          status = u.status();
          break;
        }
        udp[w].push_back(*u);
        if (address.port() == 0) address.set_port(BoundPort(*u));
        auto t = BindReusePort(address, SOCK_STREAM);
        if (!t.ok()) {
          status = t.status();
          break;
        }
        tcp[w].push_back(*t);
      }
      if (status.ok()) break;
      for (int w = 0; w < workers; ++w) {
        while (udp[w].size() > mark) {
          close(udp[w].back());
          udp[w].pop_back();
        }
        while (tcp[w].size() > mark) {
          close(tcp[w].back());
          tcp[w].pop_back();
        }
      }
      if (!pick || attempt == 50) {
        close_all();
        return status;
      }
      address.set_port(0);
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
