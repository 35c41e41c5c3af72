#include "server/ingest_server.h"

#include <atomic>
#include <deque>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "catalog/proto_convert.h"
#include "proto/catalog.grpc.pb.h"
#include "server/control_plane_sched.h"
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

google::protobuf::ArenaOptions MakeArenaOptions(char* block, size_t size) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = size;
  return options;
}

// What each completion on the queue is for.
enum class Op : uint8_t { kAccept, kRead, kWrite, kFinish, kDone };

class AgentStream;
struct Tag {
  AgentStream* stream;
  Op op;
};

// Accepts streams and hands each completion to its stream, on the one
// ingest thread.
struct Acceptor {
  svcdns::v1::Ingest::AsyncService service;
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  IngestOptions options;
  StreamEventQueue* queue = nullptr;
  catalog::StreamId last_id = 0;  // the ingest thread's
  // Shared while an operation starts, so that none starts once the queue
  // shuts down (the owner may still act on a stream whose end is queued).
  std::shared_mutex mu;
  bool closed = false;
};

// One agent stream, on gRPC's asynchronous API: its completions arrive on
// the ingest thread (OnCompletion); the owner drives the StreamSink side
// from its own thread. Both under mu_; no gRPC call re-enters it (a
// completion always comes through the queue). It is freed once no
// operation is outstanding and the owner has released it.
class AgentStream final : public StreamSink {
 public:
  // Waits for the next stream.
  static void Accept(Acceptor* acceptor) {
    std::shared_lock<std::shared_mutex> lock(acceptor->mu);
    if (acceptor->closed) return;
    auto* stream = new AgentStream(acceptor);
    acceptor->service.RequestStream(&stream->context_, &stream->stream_, acceptor->cq.get(),
                                    acceptor->cq.get(), &stream->accept_);
  }

  void OnCompletion(Op op, bool ok) {
    switch (op) {
      case Op::kAccept:
        OnAccept(ok);
        break;
      case Op::kRead:
        OnRead(ok);
        break;
      case Op::kWrite:
        OnWrite(ok);
        break;
      case Op::kDone:
        // The call is over (finished, cancelled, or the server shutting
        // down): a stream whose reads were paused ends here.
        End(absl::OkStatus());
        break;
      case Op::kFinish:
        break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    --outstanding_;
    DeleteIfUnused(lock);
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
    std::lock_guard<std::mutex> lock(mu_);
    --unprocessed_;
    if (!ended_ && !reading_ && unprocessed_ < kReadAhead) StartRead();
  }

  void Release() override {
    std::unique_lock<std::mutex> lock(mu_);
    owned_ = false;
    DeleteIfUnused(lock);
  }

 private:
  explicit AgentStream(Acceptor* acceptor)
      : acceptor_(acceptor),
        stream_(&context_),
        accept_{this, Op::kAccept},
        read_{this, Op::kRead},
        write_{this, Op::kWrite},
        finish_{this, Op::kFinish},
        done_{this, Op::kDone} {
    context_.AsyncNotifyWhenDone(&done_);  // comes only if the call starts
  }

  void OnAccept(bool ok) {
    if (!ok) return;  // shutting down: freed by OnCompletion
    Accept(acceptor_);
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_ += 1;  // the done notice
    id_ = ++acceptor_->last_id;
    peer_ = context_.peer();
    const std::string& token = acceptor_->options.token;
    if (!token.empty()) {
      auto it = context_.client_metadata().find("authorization");
      if (it == context_.client_metadata().end() ||
          absl::string_view(it->second.data(), it->second.size()) != "Bearer " + token) {
        SVCDNS_LOG(kWarn, "ingest_refused", "peer=", peer_, " reason=",
                   it == context_.client_metadata().end() ? "no_token" : "wrong_token");
        ended_ = true;  // the owner never hears of this stream
        StartFinish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                 "missing or wrong token (authorization: Bearer <token>)"));
        return;
      }
    }
    owned_ = true;
    SVCDNS_LOG(kDebug, "ingest_stream_open", "stream=", id_, " peer=", peer_);
    StartRead();
  }

  void OnRead(bool ok) {
    if (!ok) {  // half-close, cancellation or a broken connection
      End(absl::OkStatus());
      return;
    }
    auto event = ToEvent(*in_);
    // Converted: what the message held is copied out, and its memory is
    // taken back at once (the next one is parsed into the same block).
    in_ = nullptr;
    arena_.Reset();
    if (!event.ok()) {
      SVCDNS_LOG(kWarn, "ingest_rejected", "stream=", id_, " peer=", peer_,
                 " error=", Quote(event.status().message()));
      End(event.status());
      return;
    }
    event->stream = id_;
    event->sink = this;
    queue()->PushQuietly(*std::move(event));  // announced by Drain()
    // Read ahead: while the owner is busy publishing, each stream may queue
    // up to kReadAhead messages, which then land in one publication.
    std::lock_guard<std::mutex> lock(mu_);
    ++unprocessed_;
    reading_ = false;
    if (!ended_ && unprocessed_ < kReadAhead) StartRead();
  }

  void OnWrite(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) outbox_.clear();
    if (!outbox_.empty() && !finished_) {
      current_ = std::move(outbox_.front());
      outbox_.pop_front();
      StartWrite();
    } else if (ended_ && !finished_) {
      StartFinish(finish_status_);
    }
  }

  void Send(ServerMessage message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;
    if (writing_) {
      outbox_.push_back(std::move(message));
      return;
    }
    current_ = std::move(message);
    StartWrite();
  }

  // Ends the stream once: tells the owner, and finishes after the writes
  // already queued (so an error follows the Acks before it).
  void End(const absl::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ended_) return;
      ended_ = true;
      finish_status_ = ToGrpc(status);
      if (!writing_) StartFinish(finish_status_);
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
    queue()->Push(std::move(ended));
  }

  // Each under mu_, and one of each kind at a time. Once the queue shuts
  // down none starts: the call is over, and its done notice ends the stream.
  void StartRead() {
    std::shared_lock<std::shared_mutex> lock(acceptor_->mu);
    if (acceptor_->closed) return;
    reading_ = true;
    ++outstanding_;
    if (in_ == nullptr) in_ = google::protobuf::Arena::CreateMessage<AgentMessage>(&arena_);
    stream_.Read(in_, &read_);
  }
  void StartWrite() {
    std::shared_lock<std::shared_mutex> lock(acceptor_->mu);
    if (acceptor_->closed) return;
    writing_ = true;
    ++outstanding_;
    stream_.Write(current_, &write_);
  }
  void StartFinish(const grpc::Status& status) {
    finished_ = true;
    std::shared_lock<std::shared_mutex> lock(acceptor_->mu);
    if (acceptor_->closed) return;
    ++outstanding_;
    stream_.Finish(status, &finish_);
  }

  // Frees this once neither gRPC nor the owner can reach it.
  void DeleteIfUnused(std::unique_lock<std::mutex>& lock) {
    if (outstanding_ > 0 || owned_) return;
    lock.unlock();
    delete this;
  }

  StreamEventQueue* queue() const { return acceptor_->queue; }

  Acceptor* acceptor_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<ServerMessage, AgentMessage> stream_;
  Tag accept_, read_, write_, finish_, done_;
  catalog::StreamId id_ = 0;
  std::string peer_;
  // Each message is parsed into an arena that starts in first_block_, and
  // reset once the message is converted: a typical Update costs no
  // allocation of its own (a larger message grows the arena, and the reset
  // frees the growth). 2 KB a stream: 10 MB for 5,000 agents.
  alignas(8) char first_block_[2048];
  google::protobuf::Arena arena_{MakeArenaOptions(first_block_, sizeof(first_block_))};
  AgentMessage* in_ = nullptr;  // on arena_, while a read may fill it
  std::mutex mu_;
  int outstanding_ = 1;  // operations gRPC has not completed: the accept first
  bool owned_ = false;   // the owner may still call: from acceptance to Release
  // Messages handed to the owner and not processed yet; a read is
  // outstanding while reading_ (flow control: at most kReadAhead queued).
  static constexpr int kReadAhead = 64;
  int unprocessed_ = 0;
  bool reading_ = false;
  bool ended_ = false;     // no more reads or writes start
  bool finished_ = false;  // Finish() called
  bool writing_ = false;
  grpc::Status finish_status_;
  ServerMessage current_;
  std::deque<ServerMessage> outbox_;
};

// Hands each completion to its stream until the queue is shut down and
// empty. The owner hears of the messages read once every completion ready
// now is handed on, not of each one: under churn, one wake-up of the owner
// (and one publication) per burst of messages.
void Drain(grpc::ServerCompletionQueue* cq, StreamEventQueue* events) {
  void* tag;
  bool ok;
  for (;;) {
    auto next = cq->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC));
    if (next == grpc::CompletionQueue::TIMEOUT) {
      events->Announce();
      next = cq->Next(&tag, &ok) ? grpc::CompletionQueue::GOT_EVENT
                                 : grpc::CompletionQueue::SHUTDOWN;
    }
    if (next == grpc::CompletionQueue::SHUTDOWN) break;
    auto* t = static_cast<Tag*>(tag);
    t->stream->OnCompletion(t->op, ok);
  }
  events->Announce();
}

}  // namespace

struct IngestServer::Impl {
  Acceptor acceptor;
  std::unique_ptr<grpc::Server> server;
  std::thread thread;  // the ingest thread: gRPC's I/O and every completion
  int port = 0;
};

IngestServer::IngestServer() : impl_(std::make_unique<Impl>()) {}
IngestServer::~IngestServer() { Shutdown(); }

absl::Status IngestServer::Start(const IngestOptions& options, StreamEventQueue* queue) {
  auto credentials = MakeServerCredentials(options);
  if (!credentials.ok()) return credentials.status();
  Acceptor& acceptor = impl_->acceptor;
  acceptor.options = options;
  acceptor.queue = queue;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, *credentials, &impl_->port);
  builder.RegisterService(&acceptor.service);
  // One completion queue, polled by one thread of ours. (The callback API
  // polls with two threads of gRPC's that hand the poller role back and
  // forth: five context switches per message on a core shared with DNS.)
  acceptor.cq = builder.AddCompletionQueue();
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
    impl_->server.reset();
    acceptor.cq->Shutdown();
    Drain(acceptor.cq.get(), queue);
    return absl::UnavailableError(
        absl::StrCat("cannot listen for agent streams on ", options.address));
  }
  AgentStream::Accept(&acceptor);
  impl_->thread = std::thread([cq = acceptor.cq.get(), queue] {
    pthread_setname_np(pthread_self(), "ingest");
    // SCHED_BATCH (control_plane_sched.h). Here it matters twice: each Ack
    // the owner writes completes at once and wakes this thread, which,
    // preempting the owner, then blocked on the locks the owner held
    // (about six context switches per Ack). It now runs once the owner is
    // done, or the DNS worker yields, and takes every completion waiting.
    RunAsControlPlane("ingest");
    Drain(cq, queue);
  });
  return absl::OkStatus();
}

void IngestServer::Shutdown() {
  if (!impl_->server) return;
  // Ends every call (after a second for those still busy), whose last
  // completions the ingest thread hands on until the queue is empty.
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  {
    std::unique_lock<std::shared_mutex> lock(impl_->acceptor.mu);
    impl_->acceptor.closed = true;
  }
  impl_->acceptor.cq->Shutdown();
  impl_->thread.join();
  impl_->server.reset();
}

int IngestServer::port() const { return impl_->port; }

}  // namespace svcdns::server
