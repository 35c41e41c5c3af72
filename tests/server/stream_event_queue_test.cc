#include "server/stream_events.h"

#include <gtest/gtest.h>

namespace svcdns::server {
namespace {

StreamEvent Update(uint64_t sequence) {
  StreamEvent event;
  event.kind = StreamEvent::Kind::kUpdate;
  event.sequence = sequence;
  return event;
}

TEST(StreamEventQueueTest, PushWakesTheOwnerOncePerTake) {
  int wakes = 0;
  StreamEventQueue queue([&] { ++wakes; });
  queue.Push(Update(1));
  queue.Push(Update(2));
  EXPECT_EQ(wakes, 1);  // the owner knows of the queue already
  EXPECT_EQ(queue.TakeAll().size(), 2u);
  queue.Push(Update(3));
  EXPECT_EQ(wakes, 2);
}

TEST(StreamEventQueueTest, QuietPushesWakeTheOwnerOnceAnnounced) {
  int wakes = 0;
  StreamEventQueue queue([&] { ++wakes; });
  queue.Announce();  // nothing waits
  EXPECT_EQ(wakes, 0);
  queue.PushQuietly(Update(1));
  queue.PushQuietly(Update(2));
  EXPECT_EQ(wakes, 0);
  queue.Announce();
  queue.Announce();
  EXPECT_EQ(wakes, 1);
  // A quiet push after the announcement is covered by it.
  queue.PushQuietly(Update(3));
  queue.Announce();
  EXPECT_EQ(wakes, 1);
  auto events = queue.TakeAll();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].sequence, 3u);
  // A plain push wakes for quiet ones before it that were never announced.
  queue.PushQuietly(Update(4));
  queue.Push(Update(5));
  EXPECT_EQ(wakes, 2);
}

TEST(StreamEventQueueTest, NoWakeWhileTheOwnerWillTakeSoon) {
  int wakes = 0;
  StreamEventQueue queue([&] { ++wakes; });
  queue.WillTakeSoon();
  queue.Push(Update(1));
  queue.PushQuietly(Update(2));
  queue.Announce();
  EXPECT_EQ(wakes, 0);
  EXPECT_EQ(queue.TakeAll().size(), 2u);
  queue.Push(Update(3));
  EXPECT_EQ(wakes, 1);
}

}  // namespace
}  // namespace svcdns::server
