#include "catalog/name_grammar.h"

#include "absl/strings/match.h"

namespace svcdns::catalog {
namespace {

constexpr absl::string_view kInAddrArpa("\7in-addr\4arpa\0", 14);
constexpr absl::string_view kIp6Arpa("\3ip6\4arpa\0", 10);

bool IsUnderscored(absl::string_view label) {
  return label.size() > 1 && label[0] == '_';
}

// Names under <kind>: the labels left of "service", "node" or "addr".
void ParseTyped(const dns::Query& q, size_t count, absl::string_view type,
                ParsedName* out) {
  if (count == 0) {
    out->kind = NameKind::kEmptyNonTerminal;
    return;
  }
  if (type == "service") {
    if (count == 1) {
      absl::string_view label = q.label(0);
      if (!IsUnderscored(label)) {
        out->kind = NameKind::kService;
        out->service = label;
      } else if (label == "_tcp" || label == "_udp") {
        out->kind = NameKind::kEmptyNonTerminal;
      } else {
        out->kind = NameKind::kTagParent;
        out->tag = label.substr(1);
      }
      return;
    }
    if (count == 2) {
      absl::string_view first = q.label(0), second = q.label(1);
      out->kind = NameKind::kService;
      if (IsUnderscored(first) && IsUnderscored(second)) {  // RFC 2782
        out->service = first.substr(1);
        if (second != "_tcp" && second != "_udp") out->tag = second.substr(1);
      } else {
        out->tag = first;
        out->service = second;
      }
      return;
    }
  } else if (count == 1) {
    out->kind = type == "node" ? NameKind::kNode : NameKind::kAddr;
    (type == "node" ? out->node : out->addr) = q.label(0);
    return;
  }
  out->kind = NameKind::kNxDomain;
}

bool IsType(absl::string_view label) {
  return label == "service" || label == "node" || label == "addr";
}

}  // namespace

ParsedName ParseName(const dns::Query& q, const Snapshot& snapshot) {
  ParsedName out;
  absl::string_view name = q.lower_name();
  if (absl::EndsWith(name, kInAddrArpa) || absl::EndsWith(name, kIp6Arpa)) {
    out.kind = NameKind::kReverse;
    return out;
  }
  size_t n = 0;  // labels left of the domain
  bool matched = false;
  for (size_t d = 0; d < snapshot.domains.size(); ++d) {
    const DomainAnswers& domain = snapshot.domains[d];
    if (domain.label_count > q.label_count) continue;
    size_t first = q.label_count - domain.label_count;
    if (q.suffix(first) == domain.name) {
      matched = true;
      out.domain_index = d;
      out.domain_offset = q.label_offsets[first];
      if (first == q.label_count) out.domain_offset = q.qname_size - 1;
      n = first;
      break;
    }
  }
  if (!matched) return out;
  if (n == 0) {
    out.kind = NameKind::kApex;
    return out;
  }
  absl::string_view last = q.label(n - 1);
  if (n == 1 && last == "ns") {
    out.kind = NameKind::kNameserver;
    return out;
  }
  if (IsType(last)) {  // ...<type>.<domain>: the local datacenter
    ParseTyped(q, n - 1, last, &out);
    return out;
  }
  if (last == "dc") {  // ...<type>.<dc>.dc.<domain>
    if (n == 1) {
      out.kind = NameKind::kEmptyNonTerminal;
      return out;
    }
    out.datacenter = q.label(n - 2);
    if (n == 2) {
      out.kind = NameKind::kDatacenter;
      return out;
    }
    absl::string_view type = q.label(n - 3);
    if (!IsType(type)) {
      out.kind = NameKind::kNxDomain;
      return out;
    }
    ParseTyped(q, n - 3, type, &out);
    return out;
  }
  // The older ...<type>.<dc>.<domain>.
  out.datacenter = last;
  if (n == 1) {
    out.kind = NameKind::kDatacenter;
    return out;
  }
  absl::string_view type = q.label(n - 2);
  if (!IsType(type)) {
    out.kind = NameKind::kNxDomain;
    return out;
  }
  ParseTyped(q, n - 2, type, &out);
  return out;
}

}  // namespace svcdns::catalog
