// A test agent: one Ingest.Stream over a real gRPC channel, with builders
// for the messages of proto/catalog.proto.
#ifndef SVCDNS_TESTS_TESTING_AGENT_STREAM_H_
#define SVCDNS_TESTS_TESTING_AGENT_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/catalog.grpc.pb.h"

namespace svcdns::testing {

namespace v1 = ::svcdns::v1;

class AgentStream {
 public:
  // Opens the stream; the whole stream has a 30 s deadline.
  AgentStream(uint16_t port,
              std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials(),
              const std::string& token = "", const grpc::ChannelArguments& args = {});
  ~AgentStream();

  bool Send(const v1::AgentMessage& message);
  // The next server message, or nullopt once the stream has ended.
  std::optional<v1::ServerMessage> Read();
  // Half-closes and returns the final status.
  grpc::Status Finish();
  void Cancel() { context_.TryCancel(); }

  // Hello + Sync, reading Welcome and the Sync's Ack. True on success.
  bool Register(const std::string& node, const std::string& address,
                const std::vector<v1::Service>& services,
                const std::vector<v1::Check>& checks = {});

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ServerMessage>> stream_;
  bool finished_ = false;
  uint64_t sequence_ = 0;
};

// True if `message` is an Ack (false for nullopt: the stream ended).
inline bool IsAck(const std::optional<v1::ServerMessage>& message) {
  return message.has_value() && message->has_ack();
}

v1::AgentMessage HelloMessage(uint64_t sequence, const std::string& node,
                              const std::string& address, const std::string& datacenter = "");
v1::AgentMessage SyncMessage(uint64_t sequence, const std::vector<v1::Service>& services,
                             const std::vector<v1::Check>& checks = {});
v1::AgentMessage UpdateMessage(uint64_t sequence, const std::vector<v1::Change>& changes);
v1::Service ServiceProto(const std::string& id, const std::string& name, uint32_t port,
                         const std::vector<std::string>& tags = {},
                         const std::string& address = "");
v1::Check CheckProto(const std::string& id, const std::string& service_id,
                     v1::HealthStatus status);
v1::Change UpsertService(const v1::Service& service);
v1::Change DeleteServiceChange(const std::string& id);
v1::Change CheckStatusChange(const std::string& check_id, v1::HealthStatus status);

}  // namespace svcdns::testing

#endif  // SVCDNS_TESTS_TESTING_AGENT_STREAM_H_
