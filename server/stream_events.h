// What the ingest edge (gRPC reactors, one per agent stream) hands the
// catalog owner, already converted to the model, and how the owner answers.
// Neither side sees the other's threads or types.
#ifndef SVCDNS_SERVER_STREAM_EVENTS_H_
#define SVCDNS_SERVER_STREAM_EVENTS_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "catalog/catalog_store.h"
#include "catalog/change.h"
#include "catalog/model.h"

namespace svcdns::server {

// The owner's handle on one stream. Valid from the event that introduced it
// until the owner calls Release(); every call may come from any thread.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void Welcome(const std::string& server_node, const std::string& datacenter,
                       uint64_t index) = 0;
  virtual void Ack(uint64_t sequence, uint64_t index) = 0;
  // Ends the stream with `status` after the messages already queued.
  virtual void Fail(const absl::Status& status) = 0;
  // The owner is ready for the stream's next message.
  virtual void ReadNext() = 0;
  // The owner will not touch this sink again.
  virtual void Release() = 0;
};

struct StreamEvent {
  enum class Kind { kHello, kSync, kUpdate, kEnded };
  Kind kind = Kind::kEnded;
  catalog::StreamId stream = 0;
  uint64_t sequence = 0;
  StreamSink* sink = nullptr;
  catalog::Node node;                       // kHello
  std::vector<catalog::Service> services;   // kSync
  std::vector<catalog::Check> checks;       // kSync
  bool leaving = false;                     // kSync
  std::vector<catalog::Change> changes;     // kUpdate
};

// A multi-producer queue of events for the owner's thread. `wake` is called
// (outside the lock) when events wait that the owner was not told of,
// unless the owner said it will take them anyway.
class StreamEventQueue {
 public:
  explicit StreamEventQueue(std::function<void()> wake) : wake_(std::move(wake)) {}

  void Push(StreamEvent event) {
    PushQuietly(std::move(event));
    Announce();
  }

  // Queues without waking the owner: for a producer with more to come,
  // which calls Announce() once it has none ready. Under churn a burst of
  // messages then costs the owner one wake-up.
  void PushQuietly(StreamEvent event) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }

  // Wakes the owner for the events waiting, unless it knows of them.
  void Announce() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (events_.empty() || announced_) return;
      announced_ = true;
    }
    wake_();
  }

  // The owner will call TakeAll soon without being woken (a publication is
  // due, or the coalescing window after one ends): until then, pushes need
  // not wake it.
  void WillTakeSoon() {
    std::lock_guard<std::mutex> lock(mu_);
    announced_ = true;
  }

  std::deque<StreamEvent> TakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    announced_ = false;
    std::deque<StreamEvent> out;
    out.swap(events_);
    return out;
  }

 private:
  std::function<void()> wake_;
  std::mutex mu_;
  std::deque<StreamEvent> events_;
  bool announced_ = false;  // the owner was woken, or will take them anyway
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_STREAM_EVENTS_H_
