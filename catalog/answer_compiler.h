// Compiles the answers of one owner name (a service, a node, a reverse
// address, a domain's apex) into wire format, once, off the hot path. Each
// AnswerSet is made for its lookup key.
#ifndef SVCDNS_CATALOG_ANSWER_COMPILER_H_
#define SVCDNS_CATALOG_ANSWER_COMPILER_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/strings/string_view.h"
#include "catalog/model.h"
#include "catalog/snapshot.h"

namespace svcdns::catalog {

// A healthy instance as its records need it.
struct ServiceInstance {
  const Service* service;
  Health health;
  absl::string_view address;           // 4 or 16 bytes, network order
  absl::string_view target_labels[2];  // {"<node>", "node"} or {"<hex>", "addr"}
};

// The A/AAAA and SRV records (with their additional addresses) of a service
// in datacenter `dc`, for every domain served. Leaves `instances` in the
// order of the SRV records; `address_records`, if given, receives each
// one's A (or AAAA) record: its index in a() (or aaaa()).
AnswerSetRef CompileService(absl::string_view key, absl::Span<ServiceInstance> instances,
                            absl::string_view dc, uint32_t ttl,
                            const std::vector<DomainAnswers>& domains,
                            std::vector<uint32_t>* address_records = nullptr);

// The answers of some of a service's instances (those with a tag), as a
// view of the service's: `parent` is CompileService's result for
// `instances` (in the order it left them, with its `address_records`), and
// `subset` lists the instances wanted, ascending. The records are the
// parent's own bytes, exactly those CompileService would write for the
// subset alone.
AnswerSetRef CompileSubset(absl::string_view key, const AnswerSetRef& parent,
                           absl::Span<const ServiceInstance> instances,
                           absl::Span<const uint32_t> address_records,
                           absl::Span<const uint32_t> subset);

// A node's own records: A or AAAA, and TXT with its meta.
AnswerSetRef CompileNode(absl::string_view key, const Node& node, uint32_t ttl);

// PTR records, one per distinct target (wire-form names).
AnswerSetRef CompileReverse(absl::string_view key, std::vector<std::string> targets,
                            uint32_t ttl);

// The apex of a served domain with SOA serial `serial`.
struct SoaTimers {
  uint32_t refresh, retry, expire, min_ttl;
};
absl::StatusOr<DomainAnswers> CompileDomain(absl::string_view domain, SoaTimers soa,
                                            uint64_t serial);

// Parses an IP literal into `out` in network byte order without allocating:
// its size, 4 or 16, or 0 if `text` is not one.
size_t ParseAddress(const std::string& text, char out[16]);
// The same as a string: 4 or 16 bytes, or empty.
std::string AddressBytes(absl::string_view address);
// Lowercase hex of `bytes` written to `out` (two per byte), the label of
// <hex>.addr.<domain>: "c000020a" for 192.0.2.10.
absl::string_view HexLabel(absl::string_view bytes, char* out);
// The in-addr.arpa / ip6.arpa wire name of 4 or 16 address bytes.
std::string ReverseName(absl::string_view address_bytes);
// Wire form of `labels` followed by an already wire-form domain.
std::string JoinName(std::initializer_list<absl::string_view> labels,
                     absl::string_view domain_wire);
// Type, class, TTL, rdlength and rdata: a record without its owner.
std::string RecordTail(uint16_t type, uint32_t ttl, absl::string_view rdata);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_ANSWER_COMPILER_H_
