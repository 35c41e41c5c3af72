// The DNS front: binds every --dns-addr once per worker (UDP and TCP, with
// SO_REUSEPORT) and runs the workers.
#ifndef SVCDNS_SERVER_DNS_SERVER_H_
#define SVCDNS_SERVER_DNS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "catalog/snapshot_publisher.h"
#include "server/dns_worker.h"
#include "server/listen_address.h"

namespace svcdns::server {

class DnsServer {
 public:
  DnsServer(const WorkerOptions& options, const catalog::SnapshotPublisher& publisher)
      : options_(options), publisher_(publisher) {}
  ~DnsServer() { Stop(); }

  // Binds all sockets for `workers` workers (a port 0 is resolved once and
  // shared by UDP and TCP), then starts the workers. The publisher must hold
  // a snapshot already.
  absl::Status Start(std::vector<ListenAddress> addresses, int workers);
  void Stop();

  const std::vector<std::unique_ptr<DnsWorker>>& workers() const { return workers_; }

  // The addresses actually bound (ports resolved).
  const std::vector<ListenAddress>& addresses() const { return addresses_; }

 private:
  WorkerOptions options_;
  const catalog::SnapshotPublisher& publisher_;
  std::vector<ListenAddress> addresses_;
  std::vector<std::unique_ptr<DnsWorker>> workers_;
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_DNS_SERVER_H_
