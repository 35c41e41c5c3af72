#include "server/local_agent_transport.h"

#include "base/log.h"

namespace svcdns::server {
namespace {

// In-process there is nobody to answer: acks and the like go nowhere.
class NoReplies final : public StreamSink {
 public:
  void Welcome(const std::string&, const std::string&, uint64_t) override {}
  void Ack(uint64_t, uint64_t) override {}
  void Fail(const absl::Status& status) override {
    SVCDNS_LOG(kError, "local_agent_rejected", "error=", Quote(status.message()));
  }
  void ReadNext() override {}
  void Release() override {}
};

StreamSink* Sink() {
  static NoReplies* sink = new NoReplies;  // lives as long as any queue
  return sink;
}

StreamEvent Event(StreamEvent::Kind kind, uint64_t sequence) {
  StreamEvent e;
  e.kind = kind;
  e.stream = LocalAgentTransport::kStreamId;
  e.sequence = sequence;
  e.sink = Sink();
  return e;
}

}  // namespace

void LocalAgentTransport::Start() {
  StreamEvent hello = Event(StreamEvent::Kind::kHello, ++sequence_);
  StreamEvent sync = Event(StreamEvent::Kind::kSync, ++sequence_);
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    hello.node = state_->state.node;
    sync.services.assign(state_->state.services.begin(), state_->state.services.end());
    sync.checks.assign(state_->state.checks.begin(), state_->state.checks.end());
  }
  queue_->Push(std::move(hello));
  queue_->Push(std::move(sync));
}

void LocalAgentTransport::Push(uint64_t, const std::vector<catalog::Change>& changes) {
  if (stopped_) return;
  StreamEvent update = Event(StreamEvent::Kind::kUpdate, ++sequence_);
  update.changes = changes;
  queue_->Push(std::move(update));
}

void LocalAgentTransport::Stop(bool leave) {
  if (stopped_) return;
  stopped_ = true;
  if (leave) {
    StreamEvent bye = Event(StreamEvent::Kind::kSync, ++sequence_);
    bye.leaving = true;
    queue_->Push(std::move(bye));
  }
  queue_->Push(Event(StreamEvent::Kind::kEnded, ++sequence_));
}

}  // namespace svcdns::server
