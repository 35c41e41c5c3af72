#include "server/ingest_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "catalog/proto_convert.h"
#include "proto/catalog.grpc.pb.h"
#include "server/ingest_credentials.h"

namespace svcdns::server {
namespace {

using svcdns::v1::AgentMessage;
using svcdns::v1::ServerMessage;

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// Converts one agent message into an event for the owner, or says why not.
absl::StatusOr<StreamEvent> ToEvent(const AgentMessage& message) {
  StreamEvent event;
  event.sequence = message.sequence();
  switch (message.message_case()) {
    case AgentMessage::kHello:
      if (!message.hello().has_node()) {
        return absl::InvalidArgumentError("Hello without a node");
      }
      event.kind = StreamEvent::Kind::kHello;
      event.node = catalog::NodeFromProto(message.hello().node());
      return event;
    case AgentMessage::kSync: {
      event.kind = StreamEvent::Kind::kSync;
      for (const auto& s : message.sync().services()) {
        auto service = catalog::ServiceFromProto(s);
        if (!service.ok()) return service.status();
        event.services.push_back(*std::move(service));
      }
      for (const auto& c : message.sync().checks()) {
        auto check = catalog::CheckFromProto(c);
        if (!check.ok()) return check.status();
        event.checks.push_back(*std::move(check));
      }
      event.leaving = message.sync().leaving();
      return event;
    }
    case AgentMessage::kUpdate: {
      event.kind = StreamEvent::Kind::kUpdate;
      int i = 0;
      for (const auto& c : message.update().changes()) {
        auto change = catalog::ChangeFromProto(c);
        if (!change.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("changes[", i, "]: ", change.status().message()));
        }
        event.changes.push_back(*std::move(change));
        ++i;
      }
      return event;
    }
    case AgentMessage::MESSAGE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("a message with neither hello, sync nor update");
}

// One agent stream. The owner thread and gRPC's threads both drive it, so
// every Start*/Finish call happens under one recursive mutex (a reaction
// that gRPC runs inline re-enters it) and never after Finish. The reactor is
// freed when gRPC is done with it (OnDone) and the owner has released it.
class StreamReactor final : public grpc::ServerBidiReactor<AgentMessage, ServerMessage>,
                            public StreamSink {
 public:
  StreamReactor(grpc::CallbackServerContext* context, const IngestOptions& options,
                StreamEventQueue* queue, catalog::StreamId id)
      : queue_(queue), id_(id), peer_(context->peer()) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!options.token.empty()) {
      auto it = context->client_metadata().find("authorization");
      std::string expected = "Bearer " + options.token;
      if (it == context->client_metadata().end() ||
          std::string(it->second.data(), it->second.size()) != expected) {
        SVCDNS_LOG(kWarn, "ingest_refused", "peer=", peer_, " reason=",
                   it == context->client_metadata().end() ? "no_token" : "wrong_token");
        ended_ = true;
        finished_ = true;
        refs_ = 1;  // the owner never hears of this stream
        Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            "missing or wrong token (authorization: Bearer <token>)"));
        return;
      }
    }
    SVCDNS_LOG(kDebug, "ingest_stream_open", "stream=", id_, " peer=", peer_);
    StartRead(&in_);
  }

  // --- gRPC's side
  void OnReadDone(bool ok) override {
    if (!ok) {  // half-close, cancellation or a broken connection
      End(absl::OkStatus());
      return;
    }
    auto event = ToEvent(in_);
    if (!event.ok()) {
      SVCDNS_LOG(kWarn, "ingest_rejected", "stream=", id_, " peer=", peer_,
                 " error=", Quote(event.status().message()));
      End(event.status());
      return;
    }
    event->stream = id_;
    event->sink = this;
    queue_->Push(*std::move(event));
    // Read ahead: while the owner is busy publishing, each stream may queue
    // up to kReadAhead messages, which then land in one publication.
    std::lock_guard<std::recursive_mutex> lock(mu_);
    ++unprocessed_;
    reading_ = false;
    if (!ended_ && unprocessed_ < kReadAhead) {
      reading_ = true;
      StartRead(&in_);
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    writing_ = false;
    if (!ok) outbox_.clear();
    if (!outbox_.empty() && !finished_) {
      current_ = std::move(outbox_.front());
      outbox_.pop_front();
      writing_ = true;
      StartWrite(&current_);
    } else if (ended_ && !finished_) {
      finished_ = true;
      Finish(finish_status_);
    }
  }

  void OnDone() override {
    SVCDNS_LOG(kDebug, "ingest_stream_done", "stream=", id_);
    Unref();
  }

  // --- the owner's side
  void Welcome(const std::string& server_node, const std::string& datacenter,
               uint64_t index) override {
    ServerMessage m;
    m.mutable_welcome()->set_server_node(server_node);
    m.mutable_welcome()->set_datacenter(datacenter);
    m.mutable_welcome()->set_index(index);
    Send(std::move(m));
  }

  void Ack(uint64_t sequence, uint64_t index) override {
    ServerMessage m;
    m.mutable_ack()->set_sequence(sequence);
    m.mutable_ack()->set_index(index);
    Send(std::move(m));
  }

  void Fail(const absl::Status& status) override { End(status); }

  void ReadNext() override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    --unprocessed_;
    if (!ended_ && !reading_ && unprocessed_ < kReadAhead) {
      reading_ = true;
      StartRead(&in_);
    }
  }

  void Release() override { Unref(); }

 private:
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  void Send(ServerMessage message) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (ended_) return;
    if (writing_) {
      outbox_.push_back(std::move(message));
      return;
    }
    writing_ = true;
    current_ = std::move(message);
    StartWrite(&current_);
  }

  // Ends the stream once: tells the owner, and finishes after the writes
  // already queued (so an error follows the Acks before it).
  void End(const absl::Status& status) {
    {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      if (ended_) return;
      ended_ = true;
      finish_status_ = ToGrpc(status);
      if (!writing_) {
        finished_ = true;
        Finish(finish_status_);
      }
    }
    if (!status.ok()) {
      SVCDNS_LOG(kInfo, "ingest_stream_ended", "stream=", id_, " peer=", peer_,
                 " code=", absl::StatusCodeToString(status.code()),
                 " error=", Quote(status.message()));
    }
    StreamEvent ended;
    ended.kind = StreamEvent::Kind::kEnded;
    ended.stream = id_;
    ended.sink = this;
    queue_->Push(std::move(ended));
  }

  StreamEventQueue* queue_;
  catalog::StreamId id_;
  std::string peer_;
  std::atomic<int> refs_{2};  // gRPC (OnDone) and the owner (Release)
  AgentMessage in_;
  std::recursive_mutex mu_;
  // Messages handed to the owner and not processed yet; a read is
  // outstanding while reading_ (flow control: at most kReadAhead queued).
  static constexpr int kReadAhead = 64;
  int unprocessed_ = 0;
  bool reading_ = true;
  bool ended_ = false;     // no more reads or writes start
  bool finished_ = false;  // Finish() called
  bool writing_ = false;
  grpc::Status finish_status_;
  ServerMessage current_;
  std::deque<ServerMessage> outbox_;
};

class IngestService final : public svcdns::v1::Ingest::CallbackService {
 public:
  IngestService(const IngestOptions& options, StreamEventQueue* queue)
      : options_(options), queue_(queue) {}

  grpc::ServerBidiReactor<AgentMessage, ServerMessage>* Stream(
      grpc::CallbackServerContext* context) override {
    return new StreamReactor(context, options_, queue_, ++next_id_);
  }

 private:
  IngestOptions options_;
  StreamEventQueue* queue_;
  std::atomic<catalog::StreamId> next_id_{0};
};

}  // namespace

struct IngestServer::Impl {
  std::unique_ptr<IngestService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

IngestServer::IngestServer() : impl_(std::make_unique<Impl>()) {}
IngestServer::~IngestServer() { Shutdown(); }

absl::Status IngestServer::Start(const IngestOptions& options, StreamEventQueue* queue) {
  auto credentials = MakeServerCredentials(options);
  if (!credentials.ok()) return credentials.status();
  impl_->service = std::make_unique<IngestService>(options, queue);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, *credentials, &impl_->port);
  builder.RegisterService(impl_->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  int keepalive_ms = static_cast<int>(absl::ToInt64Milliseconds(options.keepalive));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Agents ping as often as we do; never punish them for it.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             std::min(keepalive_ms, 1000));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  impl_->server = builder.BuildAndStart();
  if (impl_->server == nullptr || impl_->port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for agent streams on ", options.address));
  }
  return absl::OkStatus();
}

void IngestServer::Shutdown() {
  if (impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    impl_->server.reset();
  }
}

int IngestServer::port() const { return impl_->port; }

}  // namespace svcdns::server
