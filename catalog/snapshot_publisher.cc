#include "catalog/snapshot_publisher.h"

#include <urcu-qsbr.h>

namespace svcdns::catalog {

SnapshotPublisher::~SnapshotPublisher() {
  // Readers are gone by now (workers are joined before the publisher dies).
  delete rcu_xchg_pointer(&current_, nullptr);
  retired_.clear();
}

void SnapshotPublisher::Publish(std::unique_ptr<const Snapshot> next) {
  Snapshot* old = rcu_xchg_pointer(&current_, const_cast<Snapshot*>(next.release()));
  if (old != nullptr) retired_.emplace_back(old);
}

void SnapshotPublisher::Reclaim() {
  if (retired_.empty()) return;
  synchronize_rcu();
  retired_.clear();
}

const Snapshot* SnapshotPublisher::Current() const {
  return rcu_dereference(current_);
}

RcuReader::RcuReader() {
  rcu_register_thread();
  rcu_thread_offline();
}

RcuReader::~RcuReader() {
  if (online_) rcu_thread_offline();
  rcu_unregister_thread();
}

void RcuReader::GoOnline() {
  rcu_thread_online();
  online_ = true;
}

void RcuReader::GoOffline() {
  rcu_thread_offline();
  online_ = false;
}

}  // namespace svcdns::catalog
