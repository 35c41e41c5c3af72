#include "agent/stream_client.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/shared_key_pki.h"
#include "catalog/proto_convert.h"
#include "proto/catalog.grpc.pb.h"

namespace svcdns::agent {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not a readable PEM file"));
  }
  return ss.str();
}

constexpr char kAgentVersion[] = "svcdns-agent/0.1";

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const JoinOptions& options) {
  if (!options.encrypt_key.empty()) {
    auto identity = IdentityFromSharedKey(options.encrypt_key);
    if (!identity.ok()) return identity.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = identity->ca_certificate;
    ssl.pem_cert_chain = identity->certificate;
    ssl.pem_private_key = identity->private_key;
    return grpc::SslCredentials(ssl);
  }
  if (options.tls_ca_file.empty()) {
    if (!options.tls_cert_file.empty()) {
      return absl::InvalidArgumentError("--tls-cert-file needs --tls-ca-file");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadPem("--tls-ca-file", options.tls_ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!options.tls_cert_file.empty()) {
    auto cert = ReadPem("--tls-cert-file", options.tls_cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("--tls-key-file", options.tls_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

StreamClient::StreamClient(std::string target, const JoinOptions& options,
                           std::shared_ptr<grpc::ChannelCredentials> credentials,
                           std::shared_ptr<VersionedState> state)
    : target_(std::move(target)),
      options_(options),
      credentials_(std::move(credentials)),
      state_(std::move(state)) {}

StreamClient::~StreamClient() { Stop(false); }

void StreamClient::Start() {
  running_ = true;
  thread_ = std::thread([this] {
    Run();
    running_ = false;
  });
}

void StreamClient::Push(uint64_t version, const std::vector<catalog::Change>& changes) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.emplace_back(version, changes);
  cv_.notify_all();
}

void StreamClient::Stop(bool leave) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      if (!thread_.joinable()) return;
    }
    stopping_ = true;
    leave_ = leave;
    cv_.notify_all();
  }
  // Give a live session 2 s to say goodbye, then cut it.
  for (int i = 0; i < 200 && running_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void StreamClient::SleepBackoff(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoMilliseconds(d), [&] { return stopping_; });
}

void StreamClient::Run() {
  std::mt19937 rng(std::random_device{}());
  absl::Duration backoff = absl::Milliseconds(250);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    absl::Time started = absl::Now();
    std::string reason = Session();
    connected_ = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (absl::Now() - started > absl::Seconds(10)) backoff = absl::Milliseconds(250);
    // Full jitter within [backoff/2, backoff]: agents restarted together spread out.
    std::uniform_int_distribution<int64_t> jitter(absl::ToInt64Milliseconds(backoff) / 2,
                                                  absl::ToInt64Milliseconds(backoff));
    absl::Duration wait = absl::Milliseconds(jitter(rng));
    SVCDNS_LOG(kWarn, "join_retry", "server=", target_, " reason=", Quote(reason),
               " retry_in_ms=", absl::ToInt64Milliseconds(wait));
    SleepBackoff(wait);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::string StreamClient::Session() {
  grpc::ChannelArguments args;
  int keepalive_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, std::min(keepalive_ms, 5000));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  if (!options_.encrypt_key.empty()) {
    args.SetSslTargetNameOverride(kSharedKeyPeerName);
  } else if (!options_.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options_.tls_server_name);
  }
  auto channel = grpc::CreateCustomChannel(target_, credentials_, args);
  auto stub = svcdns::v1::Ingest::NewStub(channel);
  grpc::ClientContext context;
  if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return "stopping";
    context_ = &context;
  }
  auto stream = stub->Stream(&context);
  uint64_t sequence = 0;
  auto finish = [&](const std::string& what) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      context_ = nullptr;
    }
    grpc::Status status = stream->Finish();
    return status.ok() ? what : absl::StrCat(what, ": ", status.error_message());
  };

  // Hello, then the whole state.
  svcdns::v1::AgentMessage hello;
  hello.set_sequence(++sequence);
  uint64_t synced_version;
  svcdns::v1::AgentMessage sync;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    *hello.mutable_hello()->mutable_node() = catalog::NodeToProto(state_->state.node);
    hello.mutable_hello()->set_agent_version(kAgentVersion);
    synced_version = state_->version;
    for (const auto& s : state_->state.services) *sync.mutable_sync()->add_services() = catalog::ServiceToProto(s);
    for (const auto& c : state_->state.checks) *sync.mutable_sync()->add_checks() = catalog::CheckToProto(c);
  }
  sync.mutable_sync();
  sync.set_sequence(++sequence);
  svcdns::v1::ServerMessage reply;
  if (!stream->Write(hello) || !stream->Read(&reply) || !reply.has_welcome()) {
    return finish("no welcome");
  }
  std::string server_node = reply.welcome().server_node();
  if (!stream->Write(sync) || !stream->Read(&reply) || !reply.has_ack()) {
    return finish("sync not acknowledged");
  }
  connected_ = true;
  SVCDNS_LOG(kInfo, "joined", "server=", target_, " server_node=", server_node,
             " index=", reply.ack().index());

  // Acks arrive on their own thread; a broken stream ends the session.
  std::atomic<bool> broken{false};
  std::thread reader([&] {
    svcdns::v1::ServerMessage m;
    while (stream->Read(&m)) {
    }
    broken = true;
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  });

  std::string reason = "stream ended";
  while (true) {
    std::vector<catalog::Change> changes;
    bool leave = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || broken || !queue_.empty(); });
      if (stopping_) {
        leave = leave_;
        reason = "stopping";
      } else if (broken) {
        break;
      }
      while (!queue_.empty()) {
        auto [version, batch] = std::move(queue_.front());
        queue_.pop_front();
        if (version <= synced_version) continue;  // already in the Sync
        changes.insert(changes.end(), batch.begin(), batch.end());
      }
    }
    if (!changes.empty()) {
      svcdns::v1::AgentMessage update;
      update.set_sequence(++sequence);
      for (const auto& c : changes) *update.mutable_update()->add_changes() = catalog::ChangeToProto(c);
      if (!stream->Write(update)) break;
    }
    if (reason == "stopping") {
      if (leave) {
        svcdns::v1::AgentMessage bye;
        bye.set_sequence(++sequence);
        bye.mutable_sync()->set_leaving(true);
        stream->Write(bye);
      }
      stream->WritesDone();
      break;
    }
  }
  reader.join();
  return finish(reason);
}

}  // namespace svcdns::agent
