// Parses what the hot path needs from a query, in place: the header, the
// question (its name lowercased into a fixed buffer, its labels indexed) and
// the EDNS OPT record. No allocation.
#ifndef SVCDNS_DNS_QUERY_H_
#define SVCDNS_DNS_QUERY_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "dns/protocol.h"

namespace svcdns::dns {

enum class QueryStatus : uint8_t {
  kOk,
  kDrop,      // too short to answer, or a response: never answered
  kFormErr,   // malformed: answer FORMERR (with the question if it parsed)
  kNotImp,    // an opcode other than QUERY
  kBadVers,   // EDNS version other than 0
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;  // the client's header flags word
  uint8_t opcode = 0;
  bool has_question = false;  // the question parsed (echo it in any answer)
  // The question as the client sent it (name, type, class): copied into the
  // answer verbatim so that the answer keeps the client's letter case.
  const uint8_t* question = nullptr;
  size_t question_size = 0;
  size_t qname_size = 0;  // wire length, root included
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  // The name lowercased, and the offset of each label in it, leftmost first.
  uint8_t qname_lower[kMaxNameLength];
  uint8_t label_offsets[kMaxNameLength / 2];
  uint8_t label_count = 0;  // root not counted
  bool has_edns = false;
  uint16_t edns_udp_size = 0;
  uint8_t edns_version = 0;
  bool edns_do = false;

  absl::string_view lower_name() const {
    return {reinterpret_cast<const char*>(qname_lower), qname_size};
  }
  // Label i (0 = leftmost), lowercased, without its length byte.
  absl::string_view label(size_t i) const {
    const uint8_t* p = qname_lower + label_offsets[i];
    return {reinterpret_cast<const char*>(p + 1), p[0]};
  }
  // The name from label i to the root, lowercased wire form.
  absl::string_view suffix(size_t i) const {
    size_t off = i < label_count ? label_offsets[i] : qname_size - 1;
    return {reinterpret_cast<const char*>(qname_lower + off), qname_size - off};
  }
};

QueryStatus ParseQuery(const uint8_t* packet, size_t size, Query* query);

}  // namespace svcdns::dns

#endif  // SVCDNS_DNS_QUERY_H_
