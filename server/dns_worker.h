// One DNS worker: a thread running its own libuv loop over its own
// SO_REUSEPORT UDP and TCP sockets, answering from the published snapshot.
#ifndef SVCDNS_SERVER_DNS_WORKER_H_
#define SVCDNS_SERVER_DNS_WORKER_H_

#include <uv.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "catalog/snapshot_publisher.h"
#include "server/forwarder.h"
#include "server/listen_address.h"
#include "server/responder.h"

namespace svcdns::server {

struct WorkerOptions {
  ResponderOptions responder;
  std::vector<ListenAddress> recursors;  // names outside our domains go here
  uint64_t recursor_timeout_ms = 2000;   // then the next recursor
  // Shared by the copies of these options (one per worker).
  std::shared_ptr<PreferredRecursor> preferred_recursor = std::make_shared<PreferredRecursor>(0);
  uint64_t tcp_idle_timeout_ms = 10000;
  size_t tcp_max_connections = 1024;  // per worker
};

class UdpSocket;
class TcpListener;
class TcpConnection;

class DnsWorker {
 public:
  // Takes ownership of the bound sockets.
  DnsWorker(const WorkerOptions& options,
            const catalog::SnapshotPublisher& publisher, std::vector<int> udp_fds,
            std::vector<int> tcp_fds);
  ~DnsWorker();
  DnsWorker(const DnsWorker&) = delete;
  DnsWorker& operator=(const DnsWorker&) = delete;

  void Start();
  // Closes every socket and connection, then joins the thread.
  void Stop();

  // Readable from any thread (metrics).
  const ResponderStats& stats() const { return responder_.stats(); }
  uint64_t tcp_open() const { return tcp_open_.Get(); }
  uint64_t tcp_refused() const { return tcp_refused_.Get(); }
  uint64_t forward_refused() const { return forward_refused_.Get(); }
  uint64_t recursor_failures() const { return forwarder_ ? forwarder_->failures() : 0; }

 private:
  friend class UdpSocket;
  friend class TcpListener;
  friend class TcpConnection;

  void Run();
  // The snapshot to answer from, for the rest of this loop iteration.
  const catalog::Snapshot& Snapshot();
  // Hands a query to the recursors (after the responder said so).
  void Forward(const uint8_t* query, size_t size, const ForwardOrigin& origin);
  void DeliverForwarded(const ForwardOrigin& origin, const uint8_t* reply, size_t size);
  static void OnStop(uv_async_t* async);
  static void OnPrepare(uv_prepare_t* prepare);

  WorkerOptions options_;
  const catalog::SnapshotPublisher& publisher_;
  std::vector<int> udp_fds_;
  std::vector<int> tcp_fds_;
  std::thread thread_;
  uv_loop_t loop_;
  uv_async_t stop_;
  uv_prepare_t prepare_;
  catalog::RcuReader* reader_ = nullptr;
  uint64_t yielded_at_ = 0;  // uv_hrtime() of the last sched_yield()
  Responder responder_;
  std::vector<UdpSocket*> udp_sockets_;
  std::vector<TcpListener*> tcp_listeners_;
  absl::flat_hash_map<uint64_t, TcpConnection*> connections_;  // by id
  uint64_t next_connection_id_ = 0;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<uint8_t[]> tcp_scratch_;  // one answer: 2 + 65535 bytes
  Counter tcp_open_;
  Counter tcp_refused_;
  Counter forward_refused_;
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_DNS_WORKER_H_
