// The Consul naming scheme: what a question name asks for.
//
//   [tag.]<service>.service[.<dc>.dc].<domain>   (and <service>.service.<dc>.<domain>)
//   _<service>._<tag>.service[.<dc>.dc].<domain>  (RFC 2782; _tcp/_udp: any tag)
//   <node>.node[.<dc>.dc].<domain>
//   <hex>.addr[.<dc>.dc].<domain>
//   <reversed address>.in-addr.arpa / ip6.arpa
//
// Works on the lowercased labels of a parsed query; never allocates.
#ifndef SVCDNS_CATALOG_NAME_GRAMMAR_H_
#define SVCDNS_CATALOG_NAME_GRAMMAR_H_

#include <cstddef>

#include "absl/strings/string_view.h"
#include "catalog/snapshot.h"
#include "dns/query.h"

namespace svcdns::catalog {

enum class NameKind : uint8_t {
  kOutside,      // not ours: REFUSED (or a recursor)
  kApex,         // <domain>: SOA, NS
  kNameserver,   // ns.<domain>
  kService,      // service [+ tag]
  kNode,
  kAddr,
  kReverse,      // in-addr.arpa / ip6.arpa
  kDatacenter,   // <dc>.dc.<domain> or <dc>.<domain>: exists if dc is known
  kTagParent,    // _<tag>.service...: exists if some service has the tag
  kEmptyNonTerminal,  // service.<domain>, node.<domain>, _tcp.service...
  kNxDomain,     // ours, but cannot exist
};

struct ParsedName {
  NameKind kind = NameKind::kOutside;
  size_t domain_index = 0;   // which of Snapshot::domains
  size_t domain_offset = 0;  // offset of the domain suffix in the qname
  absl::string_view datacenter;  // empty: the local one
  absl::string_view service;
  absl::string_view tag;     // empty: no tag filter
  absl::string_view node;
  absl::string_view addr;    // the hex label
};

ParsedName ParseName(const dns::Query& query, const Snapshot& snapshot);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_NAME_GRAMMAR_H_
