// The agent inside `svcdns serve --config-dir`: its Hello, Sync and Updates
// go straight into the catalog owner's event queue, the same events a gRPC
// stream would produce, without a network hop or a second copy of the rules.
#ifndef SVCDNS_SERVER_LOCAL_AGENT_TRANSPORT_H_
#define SVCDNS_SERVER_LOCAL_AGENT_TRANSPORT_H_

#include <memory>

#include "agent/transport.h"
#include "server/stream_events.h"

namespace svcdns::server {

class LocalAgentTransport : public agent::Transport {
 public:
  LocalAgentTransport(StreamEventQueue* queue, std::shared_ptr<agent::VersionedState> state)
      : queue_(queue), state_(std::move(state)) {}

  void Start() override;
  void Push(uint64_t version, const std::vector<catalog::Change>& changes) override;
  void Stop(bool leave) override;

  // The stream id of the server's own node; reactors count up from 1.
  static constexpr catalog::StreamId kStreamId = catalog::StreamId{1} << 62;

 private:
  StreamEventQueue* queue_;
  std::shared_ptr<agent::VersionedState> state_;
  uint64_t sequence_ = 0;
  bool stopped_ = false;
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_LOCAL_AGENT_TRANSPORT_H_
