// The one thread that owns the mutable catalog (the server's main libuv
// loop): applies agent stream events and file reloads to the CatalogStore,
// coalesces changes into snapshot publications, acknowledges each message
// once what it changed is visible to DNS queries, fails and forgets nodes
// whose agents went away, and persists stream-owned nodes to --data-dir.
#ifndef SVCDNS_SERVER_CATALOG_OWNER_H_
#define SVCDNS_SERVER_CATALOG_OWNER_H_

#include <uv.h>

#include <functional>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/counter.h"
#include "catalog/catalog_store.h"
#include "catalog/snapshot_builder.h"
#include "catalog/snapshot_publisher.h"
#include "server/stream_events.h"

namespace svcdns::server {

struct OwnerOptions {
  std::string server_node;
  absl::Duration coalesce = absl::Milliseconds(2);  // at most one publication each
  absl::Duration agent_grace = absl::Seconds(30);
  absl::Duration reap_after = absl::Hours(72);
  std::string data_dir;  // empty: no persistence
  absl::Duration persist_delay = absl::Milliseconds(500);
};

class CatalogOwner {
 public:
  CatalogOwner(uv_loop_t* loop, const OwnerOptions& options,
               const catalog::SnapshotOptions& snapshot_options,
               catalog::SnapshotPublisher* publisher);
  ~CatalogOwner();

  // Loads --data-dir (a corrupt file is set aside and reported, never
  // served). Call before the first SetFileNodes.
  absl::Status Restore();
  // Replaces the nodes from files and publishes at once (start, SIGHUP).
  absl::Status SetFileNodes(std::vector<catalog::NodeState> nodes, uint64_t index_floor);
  // Where reactors put their events; wakes this loop.
  StreamEventQueue* queue() { return &queue_; }
  // Called after publications with the catalog just published (shared,
  // not copied: the HTTP API reads the same one); under churn at most once
  // per 50 times the cost of the last call, so that large catalogs do not
  // spend the loop on it.
  void OnPublish(std::function<void(std::shared_ptr<const catalog::SharedCatalog>)> callback) {
    index_callbacks_.push_back(std::move(callback));
  }
  // Publishes what is pending and closes the loop handles. Streams are
  // released by Drain(), which the caller keeps calling until the ingest
  // server has shut down (its shutdown ends every stream).
  void Close();
  // Processes queued events now (also used while shutting down).
  void Drain();

  // Publishes pending changes now rather than after the coalescing window.
  absl::Status PublishNow() { return Publish(); }
  const catalog::CatalogStore& store() const { return store_; }

  // For metrics, readable from any thread.
  struct Stats {
    Counter streams;            // connected now
    Counter applied;            // Hello/Sync/Update messages applied
    Counter rejected[17];       // by absl::StatusCode
    Counter publications;
    Counter index;              // of the published snapshot
    Counter instances;          // healthy instances served
    Counter last_build_us;      // snapshot build + publish of the last one
    Counter published_at_unix;
    // From applying a Sync/Update to sending its Ack (after publication).
    static constexpr double kAckBucketsMs[] = {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
    Counter ack_buckets[13];  // the last is +Inf
    Counter ack_sum_us;
    Counter ack_count;
  };
  const Stats& stats() const { return stats_; }
  uint64_t published_index() const { return published_index_; }

 private:
  void Process(StreamEvent& event);
  void MarkDirty();
  // Publishes what is due at `when` (or at once if past).
  void PublishAt(absl::Time when);
  absl::Status Publish();
  void ScheduleExpiry();
  void ScheduleView();
  // Frees replaced snapshots after a grace period: within 10 ms, or
  // at once when many wait.
  void ScheduleReclaim();
  void PublishView();
  void Persist();

  uv_loop_t* loop_;
  OwnerOptions options_;
  catalog::SnapshotOptions snapshot_options_;
  catalog::SnapshotPublisher* publisher_;
  catalog::SnapshotBuilder builder_;
  catalog::CatalogStore store_;
  std::mutex wake_mu_;  // guards wake_ against Close()
  uv_async_t* wake_;
  StreamEventQueue queue_;
  uv_timer_t* coalesce_;
  uv_timer_t* expiry_;
  uv_timer_t* persist_;
  uv_timer_t* view_;  // the next refresh of the HTTP view, when throttled
  uv_timer_t* reclaim_;
  absl::Time view_made_at_ = absl::InfinitePast();
  absl::Duration view_cost_;
  bool closing_ = false;
  bool dirty_ = false;
  uint64_t published_index_ = 0;
  absl::Time published_at_ = absl::InfinitePast();
  uint64_t persisted_index_ = 0;
  absl::flat_hash_map<catalog::StreamId, StreamSink*> sinks_;
  struct PendingAck {
    catalog::StreamId stream;
    uint64_t sequence;
    absl::Time applied;
  };
  std::vector<PendingAck> pending_acks_;
  std::vector<std::function<void(std::shared_ptr<const catalog::SharedCatalog>)>> index_callbacks_;
  Stats stats_;
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_CATALOG_OWNER_H_
