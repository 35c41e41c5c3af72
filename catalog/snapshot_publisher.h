// Publication of snapshots by pointer swap, reclaimed with liburcu's QSBR
// flavour (as Knot publishes zones): readers pay nothing per query; a worker
// announces a quiescent state once per loop iteration by going offline before
// it blocks, and the publisher frees an old snapshot only after every reader
// has done so. Publishing does not wait for that: replaced snapshots are
// retired and freed together, after one wait (Reclaim).
#ifndef SVCDNS_CATALOG_SNAPSHOT_PUBLISHER_H_
#define SVCDNS_CATALOG_SNAPSHOT_PUBLISHER_H_

#include <memory>
#include <vector>

#include "catalog/snapshot.h"

namespace svcdns::catalog {

class SnapshotPublisher {
 public:
  SnapshotPublisher() = default;
  ~SnapshotPublisher();
  SnapshotPublisher(const SnapshotPublisher&) = delete;
  SnapshotPublisher& operator=(const SnapshotPublisher&) = delete;

  // Makes `next` the snapshot every reader sees from its next read on, and
  // retires the previous one. Call from a thread that is not an RCU reader.
  void Publish(std::unique_ptr<const Snapshot> next);
  // Waits until no reader can still hold a retired snapshot, and frees
  // them. (Under churn, one wait for many publications: each wait is two
  // context switches on a core a DNS worker keeps busy.)
  void Reclaim();
  size_t retired() const { return retired_.size(); }

  // Reader side: only between RcuReader::Online() and the next Offline().
  const Snapshot* Current() const;

 private:
  // Not const only because liburcu's macros cannot take const pointers.
  Snapshot* current_ = nullptr;
  std::vector<std::unique_ptr<const Snapshot>> retired_;
};

// Registers the calling thread as an RCU reader for its lifetime. Starts
// offline: a thread holds no snapshot until it calls Online().
class RcuReader {
 public:
  RcuReader();
  ~RcuReader();
  RcuReader(const RcuReader&) = delete;
  RcuReader& operator=(const RcuReader&) = delete;

  // Before reading Current(); cheap when already online.
  void Online() {
    if (!online_) GoOnline();
  }
  // Before blocking: every snapshot read so far may be freed from now on.
  void Offline() {
    if (online_) GoOffline();
  }

 private:
  void GoOnline();
  void GoOffline();
  bool online_ = false;
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_SNAPSHOT_PUBLISHER_H_
