#include "tests/testing/agent_stream.h"

#include <chrono>

namespace svcdns::testing {

AgentStream::AgentStream(uint16_t port, std::shared_ptr<grpc::ChannelCredentials> credentials,
                         const std::string& token, const grpc::ChannelArguments& args) {
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), credentials, args);
  stub_ = v1::Ingest::NewStub(channel_);
  context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) context_.AddMetadata("authorization", "Bearer " + token);
  stream_ = stub_->Stream(&context_);
}

AgentStream::~AgentStream() {
  if (!finished_) {
    context_.TryCancel();
    stream_->Finish();
  }
}

bool AgentStream::Send(const v1::AgentMessage& message) { return stream_->Write(message); }

std::optional<v1::ServerMessage> AgentStream::Read() {
  v1::ServerMessage message;
  if (!stream_->Read(&message)) return std::nullopt;
  return message;
}

grpc::Status AgentStream::Finish() {
  stream_->WritesDone();
  v1::ServerMessage ignored;
  while (stream_->Read(&ignored)) {
  }
  finished_ = true;
  return stream_->Finish();
}

bool AgentStream::Register(const std::string& node, const std::string& address,
                           const std::vector<v1::Service>& services,
                           const std::vector<v1::Check>& checks) {
  if (!Send(HelloMessage(++sequence_, node, address))) return false;
  auto welcome = Read();
  if (!welcome || !welcome->has_welcome()) return false;
  uint64_t sync = ++sequence_;
  if (!Send(SyncMessage(sync, services, checks))) return false;
  auto ack = Read();
  return ack && ack->has_ack() && ack->ack().sequence() == sync;
}

v1::AgentMessage HelloMessage(uint64_t sequence, const std::string& node,
                              const std::string& address, const std::string& datacenter) {
  v1::AgentMessage m;
  m.set_sequence(sequence);
  m.mutable_hello()->mutable_node()->set_name(node);
  m.mutable_hello()->mutable_node()->set_address(address);
  m.mutable_hello()->mutable_node()->set_datacenter(datacenter);
  m.mutable_hello()->set_agent_version("test");
  return m;
}

v1::AgentMessage SyncMessage(uint64_t sequence, const std::vector<v1::Service>& services,
                             const std::vector<v1::Check>& checks) {
  v1::AgentMessage m;
  m.set_sequence(sequence);
  auto* sync = m.mutable_sync();
  for (const auto& s : services) *sync->add_services() = s;
  for (const auto& c : checks) *sync->add_checks() = c;
  return m;
}

v1::AgentMessage UpdateMessage(uint64_t sequence, const std::vector<v1::Change>& changes) {
  v1::AgentMessage m;
  m.set_sequence(sequence);
  m.mutable_update();  // an Update even with no changes
  for (const auto& c : changes) *m.mutable_update()->add_changes() = c;
  return m;
}

v1::Service ServiceProto(const std::string& id, const std::string& name, uint32_t port,
                         const std::vector<std::string>& tags, const std::string& address) {
  v1::Service s;
  s.set_id(id);
  s.set_name(name);
  s.set_port(port);
  for (const auto& t : tags) s.add_tags(t);
  s.set_address(address);
  return s;
}

v1::Check CheckProto(const std::string& id, const std::string& service_id,
                     v1::HealthStatus status) {
  v1::Check c;
  c.set_id(id);
  c.set_name(id);
  c.set_service_id(service_id);
  c.set_status(status);
  return c;
}

v1::Change UpsertService(const v1::Service& service) {
  v1::Change c;
  *c.mutable_upsert_service() = service;
  return c;
}

v1::Change DeleteServiceChange(const std::string& id) {
  v1::Change c;
  c.set_delete_service_id(id);
  return c;
}

v1::Change CheckStatusChange(const std::string& check_id, v1::HealthStatus status) {
  v1::Change c;
  c.mutable_check_status()->set_check_id(check_id);
  c.mutable_check_status()->set_status(status);
  return c;
}

}  // namespace svcdns::testing
