// Turns the catalog into immutable Snapshots: health filtering, grouping by
// service, tag and datacenter, every answer precompiled in wire format.
#ifndef SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_
#define SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "catalog/answer_map.h"
#include "catalog/model.h"
#include "catalog/node_index.h"
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

// Builds snapshots one after another, incrementally: it remembers which
// lookup keys each node contributes to (its services, their tags, reverse
// names, markers), so a changed node recompiles only those keys and the new
// snapshot shares everything else with the previous one (AnswerMap). A
// publication costs O(what changed), not O(catalog).
class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(SnapshotOptions options);
  ~SnapshotBuilder();

  // The node's state from now on; nullptr: the node is gone. Only recorded:
  // the work happens in the next Build.
  void SetNode(const NodeKey& key, std::shared_ptr<const NodeState> state);
  // A snapshot of every node set so far, with SOA serial `index`. Fails
  // only on options that cannot be served (a domain that is not a name, an
  // advertise address that is not an IP literal).
  absl::StatusOr<std::unique_ptr<Snapshot>> Build(uint64_t index);
  // Makes the builder's nodes those of `catalog` (comparing each with what
  // it had), then builds at catalog.index.
  absl::StatusOr<std::unique_ptr<Snapshot>> Build(const Catalog& catalog);

  // Answer sets compiled by the last build.
  size_t compiled() const { return compiled_; }

 private:
  // A node's state as the builder holds it (in nodes_, whose entries do not
  // move): members point at the slot, which follows the node's states.
  struct NodeSlot {
    std::shared_ptr<const NodeState> state;
    // The node's own health (its status and its checks without a service),
    // kept so that an update need not read every check of a large node.
    Health health = Health::kPassing;
    // From the node's first update on: an update then reads what changed,
    // not every service and check (each a cache miss of its own).
    std::unique_ptr<NodeIndex> index;
  };
  static Health NodeHealth(const NodeState& state);
  // A healthy instance in a service group: the service at a place in the
  // node's services.
  struct Member {
    const NodeSlot* node = nullptr;
    uint32_t service = 0;
    Health health = Health::kPassing;
  };
  // A service's instances in one datacenter. Its tags' answers are views
  // of its answers, made with them.
  struct Group {
    std::vector<Member> members;
    // The tags whose answers are set: lowercase labels in wire form, sorted
    // (a string rather than a vector of them: a few bytes, usually inline).
    std::string tags;
    bool dirty = false;             // in dirty_groups_
  };

  // What a node's services share: its datacenter, address and health.
  struct NodeContext {
    const NodeState* state = nullptr;
    std::string dc;  // lowercase
    char address[16];
    size_t address_size = 0;
    Health health = Health::kPassing;  // the node's own checks, and failure
    // The node's index, if it has one (it must describe `state`).
    const NodeIndex* index = nullptr;
    // A service's health with its checks: through the node's index, or
    // else (a whole node added or removed) by a scan of the node's checks
    // for the first few services asked about, then through an index by
    // service id made once.
    Health Of(const Service& service) const;
    // Through the index: the health of the service with this id.
    Health OfId(absl::string_view id) const;

   private:
    mutable int scans_ = 0;
    mutable bool indexed_ = false;
    mutable absl::flat_hash_map<absl::string_view, Health> service_health_;
  };
  NodeContext Context(const NodeState& state, Health node_health) const;

  // kMove: the service is unchanged but its place in the node's services
  // changed, from `from` to `to` (kMoving marks a place in transit).
  enum Op { kAdd, kRemove, kMove };
  static constexpr uint32_t kMoving = uint32_t{1} << 31;
  // Adds or removes everything the slot's state contributes.
  void Contribute(const NodeSlot& slot, Op op);
  // A node that was and still is: only what differs is touched (found by
  // comparing the states' chunks, then the items of chunks that differ).
  // Leaves `next` in the slot.
  void Update(NodeSlot& slot, std::shared_ptr<const NodeState> next, const NodeKey& key);
  void ContributeService(const NodeSlot& slot, const NodeContext& context, uint32_t service,
                         Op op, uint32_t from = 0, uint32_t to = 0);
  // key = kind, the context's datacenter, then `label` lowercased.
  static const std::string& DcKey(KeyKind kind, const NodeContext& c, absl::string_view label,
                                  std::string& key);
  // The key of the service's group: its (untagged) service key.
  static const std::string& GroupKey(const NodeContext& c, const Service& service,
                                     std::string& key);
  void Mark(absl::string_view key, int sign);
  void Reverse(std::string key, std::string target, int sign);
  void Join(absl::string_view key, Member member, Op op, uint32_t to);
  // Recompiles (or drops) the answers of every key touched since the last build.
  void CompileDirty();
  // What compiling groups yields for the answer map.
  struct CompiledAnswers {
    std::vector<AnswerSetRef> sets;
    std::vector<std::string> erased;  // keys of tags no instance has any more
  };
  // A service's answers and its tags'. Groups compile on several threads
  // at once: this reads only the group, its members and options.
  void CompileGroup(const std::string& key, Group& group, CompiledAnswers& out) const;
  static std::string TagKey(absl::string_view service_key, absl::string_view tag);

  SnapshotOptions options_;
  absl::Status options_status_;
  std::string primary_;  // wire form of --domain: where PTR targets point
  std::string local_dc_;
  std::vector<DomainAnswers> domains_;  // of the current build

  absl::node_hash_map<NodeKey, NodeSlot> nodes_;  // node_hash_map: members point in
  absl::flat_hash_map<NodeKey, std::shared_ptr<const NodeState>> pending_;
  // By service key (no tag); node_hash_map: dirty_groups_ points into it.
  absl::node_hash_map<std::string, Group> groups_;
  std::vector<std::pair<const std::string, Group>*> dirty_groups_;
  absl::flat_hash_map<std::string, std::vector<std::string>> reverse_;  // PTR targets, repeated
  absl::flat_hash_map<std::string, uint32_t> markers_;                  // contributors per key
  absl::flat_hash_set<std::string> dirty_;  // reverse and marker keys
  std::string key_buffer_;
  std::string prefetch_key_;
  absl::flat_hash_set<NodeKey> dirty_nodes_;
  AnswerMap answers_;
  size_t instance_count_ = 0;
  size_t compiled_ = 0;
};

// A one-off build (tests, benchmarks, tools).
absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(
    const Catalog& catalog, const SnapshotOptions& options);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_SNAPSHOT_BUILDER_H_
