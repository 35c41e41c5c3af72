// Where the agent sends its node's state: a gRPC stream to a server
// (StreamClient), or, inside `svcdns serve`, the server's own catalog owner.
#ifndef SVCDNS_AGENT_TRANSPORT_H_
#define SVCDNS_AGENT_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "catalog/change.h"
#include "catalog/model.h"

namespace svcdns::agent {

// The node's state with a version that every change batch increments;
// shared by the agent (writer) and its transports (readers, any thread).
struct VersionedState {
  std::mutex mu;
  catalog::NodeState state;
  uint64_t version = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts delivering: a Hello and a Sync of the current state, then batches.
  virtual void Start() = 0;
  // A batch that moved the state to `version`. From the agent's thread.
  virtual void Push(uint64_t version, const std::vector<catalog::Change>& changes) = 0;
  // Says the node is leaving (when `leave`), then stops.
  virtual void Stop(bool leave) = 0;
};

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_TRANSPORT_H_
