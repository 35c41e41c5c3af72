// `svcdns agent`: the agent of one node on its own, streaming to --join
// servers and serving the registration API on --http-addr.
#ifndef SVCDNS_SERVER_AGENT_COMMAND_H_
#define SVCDNS_SERVER_AGENT_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/agent.h"
#include "agent/stream_client.h"

namespace svcdns::server {

struct AgentCommandOptions {
  agent::AgentOptions agent;
  std::vector<std::string> join;  // HOST:PORT of servers
  agent::JoinOptions join_options;
  std::string http_addr = "127.0.0.1:8500";
};

// Runs until SIGTERM/SIGINT (then leaves the cluster); SIGHUP reloads.
absl::Status RunAgent(AgentCommandOptions options);

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_AGENT_COMMAND_H_
