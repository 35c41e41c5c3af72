// The publisher retires a replaced snapshot without waiting, and frees it
// only once every reader that may hold it has passed a quiescent state.
#include "catalog/snapshot_publisher.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "gtest/gtest.h"

namespace svcdns::catalog {
namespace {

std::unique_ptr<Snapshot> SnapshotAt(uint64_t index) {
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->index = index;
  return snapshot;
}

TEST(SnapshotPublisherTest, ARetiredSnapshotLivesUntilItsReadersAreDone) {
  SnapshotPublisher publisher;
  publisher.Publish(SnapshotAt(1));
  std::atomic<int> stage{0};
  std::thread reader([&] {
    RcuReader rcu;
    rcu.Online();
    const Snapshot* held = publisher.Current();
    stage = 1;
    while (stage != 2) std::this_thread::yield();
    // The publisher is reclaiming now: what this reader holds must last
    // (under ASan, freeing it early fails here).
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(held->index, 1u);
    EXPECT_EQ(publisher.Current()->index, 2u);
    stage = 3;
    rcu.Offline();
  });
  while (stage != 1) std::this_thread::yield();
  publisher.Publish(SnapshotAt(2));  // returns at once
  EXPECT_EQ(publisher.retired(), 1u);
  stage = 2;
  publisher.Reclaim();  // waits for the reader
  EXPECT_EQ(stage, 3);
  EXPECT_EQ(publisher.retired(), 0u);
  reader.join();
}

}  // namespace
}  // namespace svcdns::catalog
