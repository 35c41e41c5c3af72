// Compiles a Catalog into an immutable Snapshot: health filtering, grouping by
// service, tag and datacenter, and every answer precompiled in wire format.
#ifndef SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_
#define SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/model.h"
#include "catalog/snapshot.h"

namespace svcdns::catalog {

// A --service-ttl rule: "web" (exact), "web*" (prefix) or "*" (any).
struct ServiceTtlRule {
  std::string pattern;
  uint32_t seconds = 0;
};

// Parses "NAME=DURATION" where DURATION is "30s", "5m", "1h" or plain seconds.
absl::StatusOr<ServiceTtlRule> ParseServiceTtlRule(absl::string_view text);

// Consul's precedence: an exact name, then the longest matching prefix
// pattern, then "*"; 0 without a rule.
uint32_t ServiceTtl(const std::vector<ServiceTtlRule>& rules,
                    absl::string_view service);

struct SnapshotOptions {
  std::string domain = "consul";
  std::string alt_domain;       // empty: none
  std::string datacenter = "dc1";
  std::string advertise = "127.0.0.1";  // the address of ns.<domain>
  bool only_passing = false;
  uint32_t node_ttl = 0;
  std::vector<ServiceTtlRule> service_ttls;
  uint32_t soa_refresh = 3600;
  uint32_t soa_retry = 600;
  uint32_t soa_expire = 86400;
  uint32_t soa_min_ttl = 0;  // also the TTL of negative answers
};

// Fails only on options that cannot be served (a domain that is not a name,
// an advertise address that is not an IP literal).
absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(
    const Catalog& catalog, const SnapshotOptions& options);

// "c000020a" for 192.0.2.10; 32 hex digits for IPv6. Empty if not a literal.
std::string AddressToHex(absl::string_view address);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_
