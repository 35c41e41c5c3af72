// One agent stream to one server (--join): Hello and a full Sync on every
// (re)connect, then Updates; keepalive pings as heartbeats; reconnects with
// capped, jittered exponential backoff, like Consul's retry_join. Runs on a
// thread of its own (gRPC's synchronous API) plus one that reads Acks.
#ifndef SVCDNS_AGENT_STREAM_CLIENT_H_
#define SVCDNS_AGENT_STREAM_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/transport.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace svcdns::agent {

struct JoinOptions {
  std::string token;
  std::string tls_ca_file;    // TLS when set
  std::string tls_cert_file;  // client certificate (mutual TLS)
  std::string tls_key_file;
  std::string tls_server_name;  // expected name in the server certificate
  std::string encrypt_key;      // shared key: mutual TLS from a derived CA
  absl::Duration keepalive = absl::Seconds(10);
  absl::Duration max_backoff = absl::Seconds(30);
};

// Credentials for JoinOptions; errors name the flag.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const JoinOptions& options);

class StreamClient : public Transport {
 public:
  StreamClient(std::string target, const JoinOptions& options,
               std::shared_ptr<grpc::ChannelCredentials> credentials,
               std::shared_ptr<VersionedState> state);
  ~StreamClient() override;

  void Start() override;
  void Push(uint64_t version, const std::vector<catalog::Change>& changes) override;
  void Stop(bool leave) override;

  bool connected() const { return connected_; }

 private:
  void Run();
  // One connection, until it breaks or Stop(); returns a reason to log.
  std::string Session();
  void SleepBackoff(absl::Duration d);

  std::string target_;
  JoinOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::shared_ptr<VersionedState> state_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<uint64_t, std::vector<catalog::Change>>> queue_;
  bool stopping_ = false;
  bool leave_ = false;
  grpc::ClientContext* context_ = nullptr;  // the live session's, for cancel
  std::atomic<bool> connected_{false};
  std::atomic<bool> running_{false};
};

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_STREAM_CLIENT_H_
