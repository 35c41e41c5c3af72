#include "server/dns_worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "dns/protocol.h"
#include "server/control_plane_sched.h"

namespace svcdns::server {

namespace {
// Datagrams per recvmmsg/sendmmsg call, and the room for each query: no
// real query comes near 4 KiB; a longer one is answered FORMERR.
constexpr size_t kBatch = 64;
constexpr size_t kQueryRoom = 4096;
// Batches a draining socket reads per turn of the loop, before the loop
// looks at its other sockets.
constexpr int kBatchesPerTurn = 8;
// A wakeup that finds this many queries waiting starts draining the socket
// (UdpSocket): below it, leaving and rejoining the epoll set (two
// epoll_ctl calls) costs more per query than it saves.
constexpr int kDrainFrom = 16;
// A batch this large reads what its lookups need before answering
// (UdpSocket::Warm): a few queries have too little to overlap.
constexpr int kWarmFrom = 8;
// A TCP client that reads slower than it asks stops being read beyond this.
constexpr size_t kMaxPendingOutput = 1 << 20;
}  // namespace

// A UDP socket, read and written with recvmmsg/sendmmsg directly (libuv
// only says when it is readable): one call reads up to 64 queries into
// buffers allocated once, each is answered into its own slot, and one call
// sends the answers. A lightly loaded socket reads one batch per wakeup,
// without the extra read that would only say EAGAIN.
//
// Under load the socket leaves the loop's epoll set and is drained from an
// idle handle instead (read at every turn of the loop) until a read finds
// it empty; then it rejoins the set. Why: epoll waits on the socket's wait
// queue, and while anyone waits there, every reply the kernel frees once
// delivered (sock_wfree) takes the queue's lock with interrupts off to
// offer EPOLLOUT to a waiter that never asked for it: 3% of the core at
// 250k queries/s, gone while draining.
class UdpSocket {
 public:
  UdpSocket(DnsWorker* worker, int fd)
      : worker_(worker),
        fd_(fd),
        slot_size_(std::max(worker->options_.responder.max_udp_size,
                            dns::kMaxUdpWithoutEdns)),
        queries_(new uint8_t[kQueryRoom * kBatch]),
        replies_(new uint8_t[slot_size_ * kBatch]) {
    for (size_t i = 0; i < kBatch; ++i) {
      query_iov_[i] = {queries_.get() + i * kQueryRoom, kQueryRoom};
      in_[i] = {};
      in_[i].msg_hdr.msg_name = &from_[i];
      in_[i].msg_hdr.msg_iov = &query_iov_[i];
      in_[i].msg_hdr.msg_iovlen = 1;
    }
    uv_poll_init(&worker->loop_, &readable_, fd_);
    readable_.data = this;
    uv_idle_init(&worker->loop_, &drain_);
    drain_.data = this;
    uv_poll_start(&readable_, UV_READABLE, OnReadable);
  }

  void Close() {
    auto on_closed = [](uv_handle_t* h) {
      auto* self = static_cast<UdpSocket*>(h->data);
      if (--self->open_handles_ > 0) return;
      close(self->fd_);  // uv_poll does not own it
      delete self;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&readable_), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_), on_closed);
  }

 private:
  static void OnReadable(uv_poll_t* h, int status, int) {
    auto* self = static_cast<UdpSocket*>(h->data);
    if (status < 0) return;
    if (self->AnswerBatch() >= kDrainFrom) {
      uv_poll_stop(&self->readable_);  // leaves the epoll set now
      uv_idle_start(&self->drain_, OnDrain);
    }
  }

  static void OnDrain(uv_idle_t* h) {
    auto* self = static_cast<UdpSocket*>(h->data);
    for (int round = 0; round < kBatchesPerTurn; ++round) {
      if (self->AnswerBatch() <= 0) {
        // Empty: wait in epoll again (level-triggered, so what arrives
        // before the loop rejoins the set still wakes it).
        uv_idle_stop(&self->drain_);
        uv_poll_start(&self->readable_, UV_READABLE, OnReadable);
        return;
      }
    }
  }

  // Reads one batch, answers it and sends the answers; the batch's size.
  int AnswerBatch() {
    int n = Receive();
    if (n >= kWarmFrom) Warm(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) Answer(static_cast<size_t>(i));
    Flush();
    return n;
  }

  // Under load the answer map is out of the caches the kernel's packet
  // path leaves it, and each lookup waits on reads from memory one after
  // the other (its slot, its answers' header, their records). For a
  // batch, these are made first for every query at once, step by step
  // (AnswerMap::Warm), so that they overlap.
  void Warm(size_t n) {
    const catalog::Snapshot& snapshot = worker_->Snapshot();
    for (size_t i = 0; i < n; ++i) {
      hashes_[i] = worker_->responder_.LookupHash(snapshot, QueryAt(i), QuerySize(i));
    }
    snapshot.answers.Warm({hashes_, n});
  }

  const uint8_t* QueryAt(size_t i) const { return queries_.get() + i * kQueryRoom; }
  // A datagram longer than the room was cut (MSG_TRUNC): not the query its
  // sender sent, so only its header is read, and the answer is a FORMERR
  // with its id (nothing, for a response).
  size_t QuerySize(size_t i) const {
    return (in_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0
               ? std::min<size_t>(in_[i].msg_len, dns::kHeaderSize)
               : in_[i].msg_len;
  }

  int Receive() {
    // The headers point at fixed buffers (set once); the kernel rewrites
    // only the address lengths, which must be room again.
    for (mmsghdr& m : in_) m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    return recvmmsg(fd_, in_, kBatch, MSG_DONTWAIT, nullptr);
  }

  void Answer(size_t i) {
    const uint8_t* packet = QueryAt(i);
    size_t size = QuerySize(i);
    const auto* from = reinterpret_cast<const sockaddr*>(&from_[i]);
    uint8_t* out = replies_.get() + count_ * slot_size_;
    DnsWorker* w = worker_;
    size_t n = w->responder_.Answer(w->Snapshot(), packet, size, Transport::kUdp, out);
    if (n == 0) {
      if (w->responder_.forward()) {
        ForwardOrigin origin;
        origin.udp_fd = fd_;
        origin.peer_length = in_[i].msg_hdr.msg_namelen;
        std::memcpy(&origin.peer, from, origin.peer_length);
        w->Forward(packet, size, origin);
      }
      return;
    }
    reply_iov_[count_] = {out, n};
    out_[count_] = {};
    out_[count_].msg_hdr.msg_name = &from_[i];
    out_[count_].msg_hdr.msg_namelen = in_[i].msg_hdr.msg_namelen;
    out_[count_].msg_hdr.msg_iov = &reply_iov_[count_];
    out_[count_].msg_hdr.msg_iovlen = 1;
    ++count_;
  }

  void Flush() {
    size_t sent = 0;
    while (sent < count_) {
      int n = sendmmsg(fd_, out_ + sent, static_cast<unsigned>(count_ - sent), 0);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        break;  // a full socket buffer: the rest is lost, as UDP may be
      } else {
        ++sent;  // this one cannot be sent (EMSGSIZE, EPERM...): skip only it
      }
    }
    count_ = 0;
  }

  DnsWorker* worker_;
  int fd_;
  uv_poll_t readable_;  // in the epoll set: while idle or lightly loaded
  uv_idle_t drain_;     // active instead, while draining
  int open_handles_ = 2;
  size_t slot_size_;
  std::unique_ptr<uint8_t[]> queries_;
  std::unique_ptr<uint8_t[]> replies_;
  size_t count_ = 0;  // answers waiting in out_
  uint64_t hashes_[kBatch];  // Warm's
  sockaddr_storage from_[kBatch];
  iovec query_iov_[kBatch];
  mmsghdr in_[kBatch];
  iovec reply_iov_[kBatch];
  mmsghdr out_[kBatch];
};

// One TCP client: length-prefixed queries, pipelined (RFC 7766), answered in
// order; closed when idle.
class TcpConnection {
 public:
  explicit TcpConnection(DnsWorker* worker) : worker_(worker), id_(++worker->next_connection_id_) {
    uv_tcp_init(&worker->loop_, &handle_);
    uv_timer_init(&worker->loop_, &idle_);
    handle_.data = this;
    idle_.data = this;
    write_.data = this;
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle_); }

  void Start() {
    worker_->connections_[id_] = this;
    worker_->tcp_open_.Set(worker_->connections_.size());
    uv_tcp_nodelay(&handle_, 1);
    uv_read_start(stream(), OnAlloc, OnRead);
    ResetIdle();
  }

  // An answer that came later (from a recursor); answers may come out of
  // order on a pipelined connection (RFC 7766).
  void SendLater(const uint8_t* reply, size_t size) {
    if (closing_) return;
    char prefix[2] = {static_cast<char>(size >> 8), static_cast<char>(size)};
    pending_.append(prefix, 2);
    pending_.append(reinterpret_cast<const char*>(reply), size);
    if (!writing_) StartWrite();
  }

  void Close() {
    if (closing_) return;
    closing_ = true;
    worker_->connections_.erase(id_);
    worker_->tcp_open_.Set(worker_->connections_.size());
    uv_timer_stop(&idle_);
    auto on_close = [](uv_handle_t* h) {
      auto* self = static_cast<TcpConnection*>(h->data);
      if (--self->open_handles_ == 0) delete self;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), on_close);
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), on_close);
  }

 private:
  void ResetIdle() {
    uv_timer_start(&idle_, [](uv_timer_t* t) { static_cast<TcpConnection*>(t->data)->Close(); },
                   worker_->options_.tcp_idle_timeout_ms, 0);
  }

  static void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<TcpConnection*>(h->data);
    if (self->input_.size() - self->used_ < 512 && self->input_.size() < 2 + dns::kMaxMessageSize) {
      self->input_.resize(std::min<size_t>(2 + dns::kMaxMessageSize,
                                           std::max<size_t>(2048, self->input_.size() * 2)));
    }
    *buf = uv_buf_init(reinterpret_cast<char*>(self->input_.data() + self->used_),
                       self->input_.size() - self->used_);
  }

  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* self = static_cast<TcpConnection*>(s->data);
    if (nread < 0) {  // EOF or error: finish writing what is answered
      if (self->writing_) {
        self->close_after_write_ = true;
        uv_read_stop(s);
      } else {
        self->Close();
      }
      return;
    }
    self->used_ += static_cast<size_t>(nread);
    self->ResetIdle();
    self->AnswerComplete();
  }

  void AnswerComplete() {
    size_t pos = 0;
    uint8_t* scratch = worker_->tcp_scratch_.get();
    while (used_ - pos >= 2) {
      size_t length = dns::Load16(input_.data() + pos);
      if (used_ - pos - 2 < length) break;
      size_t n = worker_->responder_.Answer(worker_->Snapshot(), input_.data() + pos + 2,
                                            length, Transport::kTcp, scratch + 2);
      if (n == 0 && worker_->responder_.forward()) {
        ForwardOrigin origin;
        origin.tcp = true;
        origin.tcp_connection = id_;
        worker_->Forward(input_.data() + pos + 2, length, origin);
      }
      if (n > 0) {
        dns::Store16(scratch, static_cast<uint16_t>(n));
        pending_.append(reinterpret_cast<const char*>(scratch), n + 2);
      }
      pos += 2 + length;
    }
    if (pos > 0) {
      std::memmove(input_.data(), input_.data() + pos, used_ - pos);
      used_ -= pos;
    }
    if (!writing_) StartWrite();
    if (pending_.size() > kMaxPendingOutput) uv_read_stop(stream());
  }

  void StartWrite() {
    if (pending_.empty()) return;
    in_flight_.swap(pending_);
    pending_.clear();
    uv_buf_t buf = uv_buf_init(in_flight_.data(), in_flight_.size());
    writing_ = true;
    uv_write(&write_, stream(), &buf, 1, [](uv_write_t* req, int status) {
      auto* self = static_cast<TcpConnection*>(req->data);
      self->writing_ = false;
      self->in_flight_.clear();
      if (self->closing_) return;
      if (status < 0) {
        self->Close();
        return;
      }
      if (!self->pending_.empty()) {
        self->StartWrite();
      } else if (self->close_after_write_) {
        self->Close();
        return;
      }
      if (!self->close_after_write_ && self->pending_.size() <= kMaxPendingOutput) {
        uv_read_start(self->stream(), OnAlloc, OnRead);
      }
    });
  }

  DnsWorker* worker_;
  uint64_t id_;
  uv_tcp_t handle_;
  uv_timer_t idle_;
  uv_write_t write_;
  int open_handles_ = 2;
  bool closing_ = false;
  bool writing_ = false;
  bool close_after_write_ = false;
  std::vector<uint8_t> input_;
  size_t used_ = 0;
  std::string pending_;    // answers not yet handed to libuv
  std::string in_flight_;  // answers libuv is writing
};

class TcpListener {
 public:
  TcpListener(DnsWorker* worker, int fd) : worker_(worker) {
    uv_tcp_init(&worker->loop_, &handle_);
    handle_.data = this;
    uv_tcp_open(&handle_, fd);
    uv_listen(reinterpret_cast<uv_stream_t*>(&handle_), 1024, OnConnection);
  }

  void Close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_),
             [](uv_handle_t* h) { delete static_cast<TcpListener*>(h->data); });
  }

 private:
  static void OnConnection(uv_stream_t* server, int status) {
    if (status < 0) return;
    auto* self = static_cast<TcpListener*>(server->data);
    auto* connection = new TcpConnection(self->worker_);
    if (uv_accept(server, connection->stream()) != 0 ||
        self->worker_->connections_.size() >= self->worker_->options_.tcp_max_connections) {
      connection->Close();  // over the limit: refuse by closing at once
      self->worker_->tcp_refused_.Add();
      return;
    }
    connection->Start();
  }

  DnsWorker* worker_;
  uv_tcp_t handle_;
};

DnsWorker::DnsWorker(const WorkerOptions& options,
                     const catalog::SnapshotPublisher& publisher,
                     std::vector<int> udp_fds, std::vector<int> tcp_fds)
    : options_(options),
      publisher_(publisher),
      udp_fds_(std::move(udp_fds)),
      tcp_fds_(std::move(tcp_fds)),
      responder_(options.responder),
      tcp_scratch_(new uint8_t[2 + dns::kMaxMessageSize]) {}

DnsWorker::~DnsWorker() {
  if (thread_.joinable()) Stop();
}

void DnsWorker::Start() {
  uv_loop_init(&loop_);
  loop_.data = this;
  uv_async_init(&loop_, &stop_, OnStop);
  stop_.data = this;
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, OnPrepare);
  for (int fd : udp_fds_) udp_sockets_.push_back(new UdpSocket(this, fd));
  for (int fd : tcp_fds_) tcp_listeners_.push_back(new TcpListener(this, fd));
  if (!options_.recursors.empty()) {
    forwarder_ = std::make_unique<Forwarder>(
        &loop_, options_.recursors, options_.preferred_recursor,
        [this](const ForwardOrigin& origin, const uint8_t* reply, size_t size) {
          DeliverForwarded(origin, reply, size);
        },
        /*max_pending=*/1024, options_.recursor_timeout_ms);
  }
  thread_ = std::thread([this] { Run(); });
}

void DnsWorker::Stop() {
  uv_async_send(&stop_);
  thread_.join();
}

void DnsWorker::Run() {
  // Named for top -H, perf and the churn benchmark, which tell the query
  // path's CPU from the control plane's by it.
  pthread_setname_np(pthread_self(), "dns-worker");
  catalog::RcuReader reader;
  reader_ = &reader;
  uv_run(&loop_, UV_RUN_DEFAULT);
  reader_ = nullptr;
  uv_loop_close(&loop_);
}

const catalog::Snapshot& DnsWorker::Snapshot() {
  reader_->Online();
  return *publisher_.Current();
}

void DnsWorker::Forward(const uint8_t* query, size_t size, const ForwardOrigin& origin) {
  if (forwarder_ == nullptr || !forwarder_->Forward(query, size, origin)) {
    forward_refused_.Add();  // too many pending: the client will retry
  }
}

void DnsWorker::DeliverForwarded(const ForwardOrigin& origin, const uint8_t* reply, size_t size) {
  if (!origin.tcp) {
    sendto(origin.udp_fd, reply, size, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&origin.peer),
           origin.peer_length);
    return;
  }
  auto it = connections_.find(origin.tcp_connection);
  if (it != connections_.end()) it->second->SendLater(reply, size);
}

void DnsWorker::OnPrepare(uv_prepare_t* prepare) {
  auto* self = static_cast<DnsWorker*>(prepare->data);
  // About to block in poll: a quiescent state, so publishers need not wait.
  self->reader_->Offline();
  // Between batches, now and then, let the control plane (SCHED_BATCH
  // threads, which never preempt this one) have the core.
  uint64_t now = uv_hrtime();
  if (now - self->yielded_at_ >= kWorkerYieldIntervalNs) {
    self->yielded_at_ = now;
    sched_yield();
  }
}

void DnsWorker::OnStop(uv_async_t* async) {
  auto* self = static_cast<DnsWorker*>(async->data);
  for (UdpSocket* s : self->udp_sockets_) s->Close();
  for (TcpListener* l : self->tcp_listeners_) l->Close();
  while (!self->connections_.empty()) self->connections_.begin()->second->Close();
  if (self->forwarder_) self->forwarder_->Close();
  self->udp_sockets_.clear();
  self->tcp_listeners_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->prepare_), nullptr);
}

}  // namespace svcdns::server
