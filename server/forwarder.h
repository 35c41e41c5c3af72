// Forwards queries for names outside our domains to --recursor servers, from
// the DNS worker's loop but off its answering path: the worker hands the
// query over and goes on; the answer comes back later through `deliver`.
// Pending forwards are bounded in number and in time; a recursor that times
// out, answers SERVFAIL or refuses or drops the connection is replaced by
// the next one; when all fail the client gets SERVFAIL. Forwards start with
// the recursor that answered last (as dnsmasq does; the workers' forwarders
// share it): a recursor that went silent costs one forward its timeout, not
// every one.
//
// Each forward asks from a socket of its own, connected to the recursor:
// a random source port as well as a random id, and only the recursor's
// datagrams reach it (what a resolver needs against forged answers, as
// svcdns may be the host's resolver in resolv.conf); an answer must also
// repeat the question. A query that came over TCP goes upstream over TCP
// (as Consul's recursors do): over UDP a large answer would come back
// truncated, and the client, already on TCP, could never get it whole. A
// truncated UDP answer goes back as it is: its client retries over TCP.
#ifndef SVCDNS_SERVER_FORWARDER_H_
#define SVCDNS_SERVER_FORWARDER_H_

#include <sys/socket.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "base/counter.h"
#include "server/listen_address.h"

namespace svcdns::server {

// Where the answer goes back to.
struct ForwardOrigin {
  bool tcp = false;
  int udp_fd = -1;  // the socket the query came in on
  sockaddr_storage peer{};
  socklen_t peer_length = 0;
  uint64_t tcp_connection = 0;
};

// The index of the recursor that answered last.
using PreferredRecursor = std::atomic<size_t>;

class Forwarder {
 public:
  using Deliver = std::function<void(const ForwardOrigin&, const uint8_t* reply, size_t size)>;

  Forwarder(uv_loop_t* loop, std::vector<ListenAddress> recursors,
            std::shared_ptr<PreferredRecursor> preferred, Deliver deliver,
            size_t max_pending = 1024, uint64_t timeout_ms = 2000);
  ~Forwarder();

  // False when too many forwards are pending (the caller answers SERVFAIL).
  bool Forward(const uint8_t* query, size_t size, const ForwardOrigin& origin);
  void Close();
  size_t pending() const { return pending_.size(); }
  // Queries that got SERVFAIL because no recursor answered (any thread).
  uint64_t failures() const { return failures_.Get(); }

 private:
  struct Exchange;
  struct Pending {
    ForwardOrigin origin;
    uint16_t client_id = 0;
    std::string query;     // as the client sent it
    std::string question;  // its question section, which answers repeat
    size_t first = 0;  // the recursor asked first
    size_t tried = 0;  // recursors given up on since
    uint64_t deadline_ms = 0;
    Exchange* exchange = nullptr;  // asking Asked(*this)
  };

  size_t Asked(const Pending& p) const { return (p.first + p.tried) % recursors_.size(); }
  // Asks the recursors not tried yet, in turn, until one takes the query.
  bool Send(uint16_t upstream_id, Pending& p);
  // A reply on the forward's socket or connection.
  void OnReply(uint16_t upstream_id, const uint8_t* data, size_t size);
  // The forward's exchange failed (refused, reset, closed early).
  void OnExchangeFailed(uint16_t upstream_id);
  // Gives up on the recursor p is asking (failed, timed out, SERVFAIL):
  // asks the next, or answers SERVFAIL. True if the forward is done (the
  // caller erases it).
  bool GiveUp(uint16_t upstream_id, Pending& p);
  void Expire();
  void Fail(Pending& p);  // SERVFAIL to the client
  // Closes p's socket or connection, if any; its callbacks then do nothing.
  static void Abandon(Pending& p);

  uv_loop_t* loop_;
  std::vector<ListenAddress> recursors_;
  std::shared_ptr<PreferredRecursor> preferred_;
  Deliver deliver_;
  size_t max_pending_;
  uint64_t timeout_ms_;
  uv_timer_t* timer_ = nullptr;
  absl::flat_hash_map<uint16_t, Pending> pending_;  // by the id sent upstream
  std::mt19937 rng_{std::random_device{}()};
  Counter failures_;
  uint8_t buffer_[65536];
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_FORWARDER_H_
