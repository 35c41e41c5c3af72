// Compiles a Catalog into an immutable Snapshot: health filtering, grouping by
// service, tag and datacenter, and every answer precompiled in wire format.
#ifndef SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_
#define SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// Builds snapshots one after another. The answers of every service (and
// service + tag) whose instances did not change since the previous build are
// shared with it instead of compiled again, so a publication after a small
// change mostly regroups; compiling is the larger part of a build.
class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(SnapshotOptions options) : options_(std::move(options)) {}

  // Fails only on options that cannot be served (a domain that is not a
  // name, an advertise address that is not an IP literal).
  absl::StatusOr<std::unique_ptr<Snapshot>> Build(const Catalog& catalog);

  // Of the last build: answer sets compiled, and shared with the one before.
  size_t compiled() const { return compiled_; }
  size_t reused() const { return reused_; }

 private:
  struct Cached {
    uint64_t fingerprint = 0;
    uint64_t generation = 0;
    std::shared_ptr<const AnswerSet> answers;
  };
  SnapshotOptions options_;
  absl::flat_hash_map<std::string, Cached> cache_;  // by lookup key
  uint64_t generation_ = 0;
  size_t compiled_ = 0;
  size_t reused_ = 0;
};

// A one-off build (tests, benchmarks, tools).
absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(
    const Catalog& catalog, const SnapshotOptions& options);

// "c000020a" for 192.0.2.10; 32 hex digits for IPv6. Empty if not a literal.
std::string AddressToHex(absl::string_view address);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_
