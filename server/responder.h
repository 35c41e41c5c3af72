// The hot path: turns one query packet into one answer packet from a
// snapshot, in a caller-provided buffer. One Responder per worker thread; it
// keeps that worker's counters and rotation state, so nothing here is shared
// between threads. No allocation, no lock, no atomic read-modify-write.
#ifndef SVCDNS_SERVER_RESPONDER_H_
#define SVCDNS_SERVER_RESPONDER_H_

#include <cstddef>
#include <cstdint>

#include "base/counter.h"
#include "catalog/name_grammar.h"
#include "catalog/snapshot.h"
#include "dns/protocol.h"
#include "dns/query.h"
#include "dns/wire_writer.h"

namespace svcdns::server {

struct ResponderOptions {
  // The largest UDP answer to an EDNS client, whatever size it offers.
  size_t max_udp_size = 1232;
  // At most this many A/AAAA records per answer, without TC (0: no limit).
  uint32_t a_record_limit = 0;
  // Names outside our domains (and reverse names we do not know) are for
  // the recursors: Answer() returns 0 and forward() becomes true.
  bool forward_outside = false;
  // Log one query in this many (0: none). Sampled queries only: a logged
  // query allocates for its log line.
  uint32_t query_log_sample = 0;
};

enum class Transport : uint8_t { kUdp, kTcp };

// The query types counted one by one; the rest are "other".
inline constexpr uint16_t kCountedTypes[] = {1, 28, 33, 255, 12, 16, 6, 2, 43, 48};
inline constexpr const char* kCountedTypeNames[] = {"A", "AAAA", "SRV", "ANY", "PTR", "TXT",
                                                    "SOA", "NS", "DS", "DNSKEY", "other"};
inline constexpr size_t kTypeSlots = sizeof(kCountedTypeNames) / sizeof(kCountedTypeNames[0]);
inline constexpr const char* kRcodeNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                              "NOTIMP", "REFUSED", "BADVERS"};
inline constexpr size_t kRcodeSlots = 7;

// Per-worker counters (written by the worker alone); a metrics scrape sums
// them across workers.
struct ResponderStats {
  Counter answered[2][kRcodeSlots];  // [udp, tcp][rcode]
  Counter by_type[kTypeSlots];
  Counter dropped;                   // too short, or responses
  Counter forwarded;                 // handed to a recursor
  Counter truncated;
};

class Responder {
 public:
  explicit Responder(const ResponderOptions& options) : options_(options) {}

  // Writes the answer to `packet` into `out` and returns its size, or 0 when
  // the packet gets no answer here (see forward()). `out` must hold
  // dns::kMaxMessageSize bytes.
  size_t Answer(const catalog::Snapshot& snapshot, const uint8_t* packet,
                size_t size, Transport transport, uint8_t* out);
  // After Answer() returned 0: the query is for a recursor.
  bool forward() const { return forward_; }

  // The hash (catalog::AnswerMap::KeyHash) of the answers Answer() will
  // look up for `packet` first, when it asks for a service or a node;
  // else 0. For a batch to start its cache misses before answering
  // (the query is parsed twice: ~30 ns against the misses to memory it
  // lets the batch overlap).
  uint64_t LookupHash(const catalog::Snapshot& snapshot, const uint8_t* packet, size_t size);

  const ResponderStats& stats() const { return stats_; }

 private:
  struct Reply;  // the answer being built

  void Resolve(const catalog::Snapshot& snapshot, Reply& reply);
  void AnswerService(const catalog::AnswerSet& set, size_t domain, Reply& reply);
  void AnswerNode(const catalog::AnswerSet& set, Reply& reply);
  void AnswerAddr(absl::string_view hex, uint32_t ttl, Reply& reply);
  // Appends records from `records` in rotated order, at most `max` (0: all).
  void AppendRotated(const catalog::AnswerSet& set,
                     absl::Span<const catalog::RecordRef> records,
                     size_t max, Reply& reply);
  void AppendSrv(const catalog::AnswerSet& set,
                 absl::Span<const catalog::SrvRecord> records, Reply& reply);
  void AppendSoa(const catalog::Snapshot& snapshot, Reply& reply, bool answer);
  void LogQuery(Transport transport, const Reply& reply, size_t size);

  ResponderOptions options_;
  ResponderStats stats_;
  uint32_t rotation_ = 0;
  bool forward_ = false;
  uint32_t since_logged_ = 0;
  dns::Query query_;
  dns::Query ahead_;  // LookupHash's
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_RESPONDER_H_
