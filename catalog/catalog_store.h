// The mutable catalog: nodes from files (--catalog, --config-dir) and nodes
// owned by agent streams. Owned by one thread (the server's main loop);
// every mutation is validated whole before it is applied, so a rejected
// message leaves the store exactly as it was. Knows nothing of gRPC.
#ifndef SVCDNS_CATALOG_CATALOG_STORE_H_
#define SVCDNS_CATALOG_CATALOG_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "catalog/change.h"
#include "catalog/model.h"
#include "catalog/node_index.h"

namespace svcdns::catalog {

using StreamId = uint64_t;  // 0: no stream

// What `svcdns members` and /v1/agent/members show of a node.
struct Member {
  std::string name;
  std::string address;
  std::string datacenter;
  NodeStatus status = NodeStatus::kAlive;
  bool connected = false;      // an agent stream owns it now
  bool from_files = false;     // --catalog / --config-dir, not a stream
  absl::Time last_contact;
};

class CatalogStore {
 public:
  explicit CatalogStore(std::string local_datacenter);

  // Replaces every node that came from files with `nodes`. A node that an
  // agent stream owns keeps the stream's state. The index becomes at least
  // `index_floor` (a catalog file's own index).
  void SetFileNodes(std::vector<NodeState> nodes, uint64_t index_floor = 0);

  // Nodes restored from --data-dir at start: served as if their agents had
  // just disconnected (within their grace period).
  void RestoreNodes(std::vector<NodeState> nodes, absl::Time now);

  // A stream says which node it speaks for. Returns the stream that owned
  // the node before (to be ended with ABORTED), or 0.
  absl::StatusOr<StreamId> Hello(StreamId stream, const Node& node, absl::Time now);
  // Replaces the node's services and checks. `leaving`: the node is left.
  absl::Status Sync(StreamId stream, std::vector<Service> services,
                    std::vector<Check> checks, bool leaving, absl::Time now);
  // Applies all changes, or none if any is invalid.
  absl::Status Update(StreamId stream, const std::vector<Change>& changes,
                      absl::Time now);
  // The stream is gone: its node's grace period starts now.
  void StreamEnded(StreamId stream, absl::Time now);
  // A heartbeat from the stream.
  void Touch(StreamId stream, absl::Time now);

  // Fails nodes whose agents have been gone longer than `grace` and forgets
  // failed or left nodes older than `reap`. True if anything changed.
  bool Expire(absl::Time now, absl::Duration grace, absl::Duration reap);
  // The earliest time at which Expire() would change something.
  absl::Time NextExpiry(absl::Duration grace, absl::Duration reap) const;

  // The catalog to serve (left nodes are kept, marked left), sharing each
  // node's state: O(nodes) pointer copies.
  SharedCatalog Shared() const;
  // The nodes changed since the last call, with their state now (nullptr:
  // removed): what the snapshot builder must look at again.
  std::vector<std::pair<NodeKey, std::shared_ptr<const NodeState>>> TakeChanges();
  // Nodes owned by streams (alive or within grace), to persist.
  Catalog StreamNodes() const;
  std::vector<Member> Members() const;
  uint64_t index() const { return index_; }
  bool OwnsNode(StreamId stream) const { return stream_nodes_.contains(stream); }

 private:
  struct NodeRecord {
    // Replaced, never modified: the builder and the HTTP view share it.
    std::shared_ptr<const NodeState> state = std::make_shared<const NodeState>();
    StreamId owner = 0;
    bool from_files = false;
    bool from_stream = false;     // a stream ever owned it (or it was restored)
    absl::Time last_contact = absl::InfinitePast();
    absl::Time disconnected_at = absl::InfiniteFuture();  // owner gone since
    absl::Time status_since = absl::InfinitePast();        // failed/left since
    // The state's services and checks by id, from its first Update on.
    std::unique_ptr<NodeIndex> index;
  };

  NodeKey KeyOf(const Node& node) const;
  // Gives the node a new state and remembers that it changed.
  void Replace(const NodeKey& key, NodeRecord& record, NodeState next);
  // The node `stream` owns, or FAILED_PRECONDITION.
  absl::StatusOr<NodeRecord*> Owned(StreamId stream);

  std::string local_datacenter_;
  uint64_t index_ = 1;
  std::map<NodeKey, NodeRecord> nodes_;
  absl::flat_hash_map<StreamId, NodeKey> stream_nodes_;
  absl::flat_hash_set<NodeKey> changed_;
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_CATALOG_STORE_H_
