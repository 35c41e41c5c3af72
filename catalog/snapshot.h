// An immutable, precompiled view of the catalog: every answer the DNS
// workers can give, already in wire format. Built off the hot path by
// SnapshotBuilder, published by pointer swap (SnapshotPublisher), read by
// workers without locks, allocation or reference counting.
#ifndef SVCDNS_CATALOG_SNAPSHOT_H_
#define SVCDNS_CATALOG_SNAPSHOT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "catalog/answer_map.h"

namespace svcdns::catalog {

// What a served domain answers at its apex and in negative answers.
struct DomainAnswers {
  std::string name;        // lowercase wire form, e.g. "\6consul\0"
  size_t label_count = 0;
  std::string soa_tail;    // SOA record without its owner (type .. rdata)
  std::string ns_tail;     // NS record without its owner: ns.<domain>
  std::string ns_host;     // "ns.<domain>" wire form, lowercase
};

// Lookup keys: a kind byte, then lowercase labels in wire form (each with its
// length byte), so that no two different questions share a key.
enum class KeyKind : char {
  kService = 'S',     // dc, service, tag (a zero-length label: no tag filter)
  kNode = 'N',        // dc, node
  kReverse = 'P',     // the whole in-addr.arpa / ip6.arpa name
  kDatacenter = 'D',  // dc: it exists (empty non-terminals)
  kTag = 'T',         // dc, tag: some service has it (_tag.service ENTs)
};

// Builds a key in a fixed buffer without allocating.
class LookupKey {
 public:
  explicit LookupKey(KeyKind kind) { bytes_[size_++] = static_cast<char>(kind); }
  // Appends a label (length byte + bytes); false if the key would overflow.
  bool AddLabel(absl::string_view label);
  // Appends raw bytes (an already wire-form name).
  bool AddWire(absl::string_view wire);
  absl::string_view view() const { return {bytes_, size_}; }

 private:
  char bytes_[600];
  size_t size_ = 0;
};

class Snapshot {
 public:
  uint64_t index = 0;                 // the catalog index: the SOA serial
  std::string local_datacenter;       // lowercase
  std::vector<DomainAnswers> domains; // [0] --domain, [1] --alt-domain
  std::string ns_address_tail;        // A/AAAA of ns.<domain> without owner
  uint16_t ns_address_type = 0;
  uint32_t node_ttl = 0;
  size_t instance_count = 0;          // healthy instances served

  // Returns the answers for a key, or nullptr.
  const AnswerSet* Find(absl::string_view key) const {
    const AnswerSet* set = answers.Find(key);
    return set == nullptr || set->marker() ? nullptr : set;
  }
  // Whether the key exists, answers or marker (an empty non-terminal).
  bool Contains(absl::string_view key) const { return answers.Find(key) != nullptr; }

  // Shared with the builder and the snapshots before and after this one.
  AnswerMap answers;
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_SNAPSHOT_H_
