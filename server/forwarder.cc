#include "server/forwarder.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "dns/protocol.h"
#include "dns/query.h"
#include "server/uv_handle.h"

namespace svcdns::server {
namespace {

// Whether a reply repeats the question asked: the name in any letter case,
// type and class exactly.
bool RepeatsQuestion(const uint8_t* reply, size_t size, const std::string& question) {
  if (question.size() < 4 || dns::Load16(reply + 4) != 1 ||
      size < dns::kHeaderSize + question.size()) {
    return false;
  }
  const uint8_t* asked = reinterpret_cast<const uint8_t*>(question.data());
  const uint8_t* echoed = reply + dns::kHeaderSize;
  size_t name = question.size() - 4;
  for (size_t i = 0; i < name; ++i) {
    // Length bytes (< 64) are not letters: folding leaves them alone.
    if (absl::ascii_tolower(echoed[i]) != absl::ascii_tolower(asked[i])) return false;
  }
  return std::memcmp(echoed + name, asked + name, 4) == 0;
}

}  // namespace

// One query asked of one recursor: over UDP from a socket of its own,
// connected to the recursor, or over a TCP connection of its own (the query
// written after its length, the reply read the same way). Freed by its
// handle's close callback; once the forward gives up on it (Abandon),
// `forwarder` is null and its remaining callbacks do nothing.
struct Forwarder::Exchange {
  union {  // every libuv handle begins with a uv_handle_t
    uv_handle_t handle;
    uv_udp_t udp;
    uv_tcp_t tcp;
  };
  uv_connect_t connect;
  uv_write_t write;
  Forwarder* forwarder;
  uint16_t id;      // the upstream id of its forward
  std::string out;  // TCP: the query's length and the query
  std::string in;   // TCP: the reply's length and the reply, so far

  Exchange(Forwarder* f, uint16_t upstream_id) : forwarder(f), id(upstream_id) {}

  // Opens the socket or connection and sends `query`; false if it cannot.
  bool Start(uv_loop_t* loop, const ListenAddress& to, bool use_tcp, std::string query) {
    const auto* addr = reinterpret_cast<const sockaddr*>(&to.storage);
    connect.data = write.data = this;
    if (use_tcp) {
      uv_tcp_init(loop, &tcp);
      handle.data = this;
      out.resize(2);
      dns::Store16(reinterpret_cast<uint8_t*>(out.data()), static_cast<uint16_t>(query.size()));
      out += query;
      return uv_tcp_connect(&connect, &tcp, addr, [](uv_connect_t* c, int status) {
               auto* x = static_cast<Exchange*>(c->data);
               if (x->forwarder == nullptr) return;  // abandoned
               if (status < 0) {
                 x->Failed();
               } else {
                 x->OnConnected();
               }
             }) == 0;
    }
    uv_udp_init(loop, &udp);  // the socket comes with the connect (which may fail: EMFILE)
    handle.data = this;
    if (uv_udp_connect(&udp, addr) != 0) return false;
    uv_udp_recv_start(&udp, Alloc, [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr*,
                                      unsigned) {
      auto* x = static_cast<Exchange*>(h->data);
      if (x->forwarder == nullptr || n == 0) return;
      if (n < 0) {  // refused (ICMP port unreachable): try the next recursor now
        x->Failed();
        return;
      }
      x->forwarder->OnReply(x->id, reinterpret_cast<const uint8_t*>(buf->base),
                            static_cast<size_t>(n));
    });
    uv_buf_t buf = uv_buf_init(query.data(), static_cast<unsigned>(query.size()));
    return uv_udp_try_send(&udp, &buf, 1, nullptr) == static_cast<int>(query.size());
  }

  void Close() {
    forwarder = nullptr;
    uv_close(&handle, [](uv_handle_t* h) { delete static_cast<Exchange*>(h->data); });
  }

 private:
  static void Alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    Forwarder* f = static_cast<Exchange*>(h->data)->forwarder;
    *buf = uv_buf_init(reinterpret_cast<char*>(f->buffer_), sizeof(f->buffer_));
  }
  void Failed() {
    if (forwarder != nullptr) forwarder->OnExchangeFailed(id);
  }
  void OnConnected() {
    auto* stream = reinterpret_cast<uv_stream_t*>(&tcp);
    uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    uv_write(&write, stream, &buf, 1, [](uv_write_t* w, int status) {
      if (status < 0) static_cast<Exchange*>(w->data)->Failed();
    });
    uv_read_start(stream, Alloc, [](uv_stream_t* h, ssize_t n, const uv_buf_t* buf) {
      auto* x = static_cast<Exchange*>(h->data);
      if (n < 0) {  // closed or reset before the whole reply came
        x->Failed();
        return;
      }
      x->in.append(buf->base, static_cast<size_t>(n));
      if (x->in.size() < 2) return;
      size_t size = dns::Load16(reinterpret_cast<const uint8_t*>(x->in.data()));
      if (x->in.size() < 2 + size) return;
      x->forwarder->OnReply(x->id, reinterpret_cast<const uint8_t*>(x->in.data()) + 2, size);
    });
  }
};

Forwarder::Forwarder(uv_loop_t* loop, std::vector<ListenAddress> recursors,
                     std::shared_ptr<PreferredRecursor> preferred, Deliver deliver,
                     size_t max_pending, uint64_t timeout_ms)
    : loop_(loop),
      recursors_(std::move(recursors)),
      preferred_(std::move(preferred)),
      deliver_(std::move(deliver)),
      max_pending_(max_pending),
      timeout_ms_(timeout_ms) {
  timer_ = new uv_timer_t;
  timer_->data = this;
  uv_timer_init(loop_, timer_);
  uv_timer_start(timer_, [](uv_timer_t* t) { static_cast<Forwarder*>(t->data)->Expire(); }, 100, 100);
}

Forwarder::~Forwarder() { Close(); }

void Forwarder::Close() {
  for (auto& [id, p] : pending_) Abandon(p);
  CloseHandle(timer_);
  timer_ = nullptr;
  pending_.clear();
}

bool Forwarder::Forward(const uint8_t* query, size_t size, const ForwardOrigin& origin) {
  if (timer_ == nullptr || size < dns::kHeaderSize || pending_.size() >= max_pending_) return false;
  uint16_t id;
  do {
    id = static_cast<uint16_t>(rng_());
  } while (pending_.contains(id));
  Pending& p = pending_[id];
  p.origin = origin;
  p.client_id = dns::Load16(query);
  p.query.assign(reinterpret_cast<const char*>(query), size);
  dns::Query q;
  dns::ParseQuery(query, size, &q);
  if (q.has_question) p.question.assign(reinterpret_cast<const char*>(q.question), q.question_size);
  p.first = preferred_->load(std::memory_order_relaxed) % recursors_.size();
  p.tried = 0;
  if (!Send(id, p)) {
    pending_.erase(id);
    return false;
  }
  return true;
}

bool Forwarder::Send(uint16_t upstream_id, Pending& p) {
  std::string query = p.query;
  dns::Store16(reinterpret_cast<uint8_t*>(query.data()), upstream_id);
  query[2] |= 0x01;  // RD: we ask the recursor to recurse
  for (; p.tried < recursors_.size(); ++p.tried) {
    auto* x = new Exchange(this, upstream_id);
    if (x->Start(loop_, recursors_[Asked(p)], p.origin.tcp, query)) {
      p.exchange = x;
      p.deadline_ms = uv_now(loop_) + timeout_ms_;
      return true;
    }
    x->Close();
  }
  return false;
}

void Forwarder::Abandon(Pending& p) {
  if (p.exchange == nullptr) return;
  p.exchange->Close();
  p.exchange = nullptr;
}

void Forwarder::OnExchangeFailed(uint16_t upstream_id) {
  auto it = pending_.find(upstream_id);
  if (it != pending_.end() && GiveUp(upstream_id, it->second)) pending_.erase(it);
}

bool Forwarder::GiveUp(uint16_t upstream_id, Pending& p) {
  Abandon(p);
  ++p.tried;
  if (Send(upstream_id, p)) return false;
  Fail(p);
  return true;
}

void Forwarder::OnReply(uint16_t upstream_id, const uint8_t* data, size_t size) {
  auto it = pending_.find(upstream_id);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  bool ours = size >= dns::kHeaderSize && (data[2] & 0x80) != 0 &&
              dns::Load16(data) == upstream_id && RepeatsQuestion(data, size, p.question);
  if (!ours) {
    // A stray or forged datagram: the answer may still come. On TCP the
    // recursor itself answered something else.
    if (p.origin.tcp) OnExchangeFailed(upstream_id);
    return;
  }
  if ((data[3] & 0x0F) == dns::kRcodeServFail) {
    OnExchangeFailed(upstream_id);
    return;
  }
  Abandon(p);
  preferred_->store(Asked(p), std::memory_order_relaxed);
  std::memmove(buffer_, data, size);  // data is usually buffer_ itself
  dns::Store16(buffer_, p.client_id);
  buffer_[3] |= 0x80;  // RA: for this client we recursed
  ForwardOrigin origin = p.origin;
  pending_.erase(it);
  deliver_(origin, buffer_, size);
}

void Forwarder::Expire() {
  uint64_t now = uv_now(loop_);
  std::vector<uint16_t> done;
  for (auto& [id, p] : pending_) {
    if (p.deadline_ms <= now && GiveUp(id, p)) done.push_back(id);
  }
  for (uint16_t id : done) pending_.erase(id);
}

void Forwarder::Fail(Pending& p) {
  failures_.Add();
  uint8_t out[dns::kHeaderSize + dns::kMaxNameLength + 4];
  std::memset(out, 0, dns::kHeaderSize);
  dns::Store16(out, p.client_id);
  uint16_t asked = dns::Load16(reinterpret_cast<const uint8_t*>(p.query.data()) + 2);
  dns::Store16(out + 2, dns::kFlagQr | dns::kFlagRa | (asked & (dns::kFlagRd | dns::kFlagCd)) |
                            dns::kRcodeServFail);
  size_t size = dns::kHeaderSize;
  if (!p.question.empty() && p.question.size() <= dns::kMaxNameLength + 4) {
    dns::Store16(out + 4, 1);
    std::memcpy(out + size, p.question.data(), p.question.size());
    size += p.question.size();
  }
  deliver_(p.origin, out, size);
}

}  // namespace svcdns::server
