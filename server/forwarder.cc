#include "server/forwarder.h"

#include <netinet/in.h>

#include <cstring>

#include "dns/protocol.h"
#include "dns/query.h"
#include "server/uv_handle.h"

namespace svcdns::server {

// One query asked of one recursor over TCP: connect, write it with its
// length, read the reply's length and the reply. Freed by its handle's
// close callback; once the forward gives up on it (Abandon), `forwarder` is
// null and its remaining callbacks do nothing.
struct Forwarder::TcpExchange {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  Forwarder* forwarder;
  uint16_t id;      // the upstream id of its forward
  std::string out;  // the query, after its length
  std::string in;   // the reply so far, after its length

  static void Close(TcpExchange* x) {
    x->forwarder = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&x->tcp),
             [](uv_handle_t* h) { delete static_cast<TcpExchange*>(h->data); });
  }
  void Failed() {
    if (forwarder != nullptr) forwarder->OnTcpFailed(id);
  }
  void OnConnected() {
    uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    uv_write(&write, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1, [](uv_write_t* w, int status) {
      if (status < 0) static_cast<TcpExchange*>(w->data)->Failed();
    });
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* x = static_cast<TcpExchange*>(h->data);
          *buf = uv_buf_init(reinterpret_cast<char*>(x->forwarder->buffer_), sizeof(x->forwarder->buffer_));
        },
        [](uv_stream_t* h, ssize_t n, const uv_buf_t* buf) {
          auto* x = static_cast<TcpExchange*>(h->data);
          if (n < 0) {  // closed (or reset) before the whole reply came
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

Forwarder::Forwarder(uv_loop_t* loop, std::vector<ListenAddress> recursors, Deliver deliver,
                     size_t max_pending, uint64_t timeout_ms)
    : loop_(loop),
      recursors_(std::move(recursors)),
      deliver_(std::move(deliver)),
      max_pending_(max_pending),
      timeout_ms_(timeout_ms) {
  auto open = [&](int family) {
    auto* udp = new uv_udp_t;
    uv_udp_init_ex(loop_, udp, family);
    udp->data = this;
    uv_udp_recv_start(
        udp,
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<Forwarder*>(h->data);
          *buf = uv_buf_init(reinterpret_cast<char*>(self->buffer_), sizeof(self->buffer_));
        },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          if (n > 0 && from != nullptr) {
            static_cast<Forwarder*>(h->data)->OnUdpReply(
                reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n), from);
          }
        });
    return udp;
  };
  for (const ListenAddress& r : recursors_) {
    if (r.family() == AF_INET && v4_ == nullptr) v4_ = open(AF_INET);
    if (r.family() == AF_INET6 && v6_ == nullptr) v6_ = open(AF_INET6);
  }
  timer_ = new uv_timer_t;
  timer_->data = this;
  uv_timer_init(loop_, timer_);
  uv_timer_start(timer_, [](uv_timer_t* t) { static_cast<Forwarder*>(t->data)->Expire(); }, 100, 100);
}

Forwarder::~Forwarder() { Close(); }

void Forwarder::Close() {
  for (auto& [id, p] : pending_) Abandon(p);
  CloseHandle(v4_);
  CloseHandle(v6_);
  CloseHandle(timer_);
  v4_ = v6_ = nullptr;
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
  p.recursor = 0;
  if (!Send(id, p)) {
    pending_.erase(id);
    return false;
  }
  return true;
}

std::string Forwarder::UpstreamQuery(uint16_t upstream_id, const Pending& p) {
  std::string query = p.query;
  dns::Store16(reinterpret_cast<uint8_t*>(query.data()), upstream_id);
  query[2] |= 0x01;  // RD: we ask the recursor to recurse
  return query;
}

bool Forwarder::Send(uint16_t upstream_id, Pending& p) {
  while (p.recursor < recursors_.size()) {
    const ListenAddress& to = recursors_[p.recursor];
    bool sent;
    if (p.origin.tcp) {
      sent = SendTcp(upstream_id, p, to);
    } else {
      uv_udp_t* socket = to.family() == AF_INET ? v4_ : v6_;
      std::string query = UpstreamQuery(upstream_id, p);
      uv_buf_t buf = uv_buf_init(query.data(), query.size());
      sent = uv_udp_try_send(socket, &buf, 1, reinterpret_cast<const sockaddr*>(&to.storage)) ==
             static_cast<int>(query.size());
    }
    if (sent) {
      p.deadline_ms = uv_now(loop_) + timeout_ms_;
      return true;
    }
    ++p.recursor;
  }
  return false;
}

bool Forwarder::SendTcp(uint16_t upstream_id, Pending& p, const ListenAddress& to) {
  auto* x = new TcpExchange;
  x->forwarder = this;
  x->id = upstream_id;
  x->out.resize(2);
  dns::Store16(reinterpret_cast<uint8_t*>(x->out.data()), static_cast<uint16_t>(p.query.size()));
  x->out += UpstreamQuery(upstream_id, p);
  uv_tcp_init(loop_, &x->tcp);
  x->tcp.data = x;
  x->connect.data = x;
  x->write.data = x;
  int r = uv_tcp_connect(&x->connect, &x->tcp, reinterpret_cast<const sockaddr*>(&to.storage),
                         [](uv_connect_t* c, int status) {
                           auto* x = static_cast<TcpExchange*>(c->data);
                           if (x->forwarder == nullptr) return;  // abandoned
                           if (status < 0) {
                             x->Failed();
                           } else {
                             x->OnConnected();
                           }
                         });
  if (r != 0) {
    TcpExchange::Close(x);
    return false;
  }
  p.tcp = x;
  return true;
}

void Forwarder::Abandon(Pending& p) {
  if (p.tcp == nullptr) return;
  TcpExchange::Close(p.tcp);
  p.tcp = nullptr;
}

void Forwarder::OnTcpFailed(uint16_t upstream_id) {
  auto it = pending_.find(upstream_id);
  if (it == pending_.end()) return;
  Abandon(it->second);
  ++it->second.recursor;
  TryNext(upstream_id);
}

void Forwarder::TryNext(uint16_t upstream_id) {
  auto it = pending_.find(upstream_id);
  if (it == pending_.end() || Send(upstream_id, it->second)) return;
  Fail(it->second);
  pending_.erase(it);
}

void Forwarder::OnUdpReply(const uint8_t* data, size_t size, const sockaddr* from) {
  if (size < dns::kHeaderSize || (data[2] & 0x80) == 0) return;
  auto it = pending_.find(dns::Load16(data));
  if (it == pending_.end()) return;
  Pending& p = it->second;
  if (p.tcp != nullptr) return;  // asked over TCP: a datagram is not the answer
  // Only the recursor we asked may answer (no spoofed replies).
  const ListenAddress& to = recursors_[p.recursor];
  bool same = from->sa_family == to.family() &&
              (from->sa_family == AF_INET
                   ? std::memcmp(&reinterpret_cast<const sockaddr_in*>(from)->sin_addr,
                                 &reinterpret_cast<const sockaddr_in*>(&to.storage)->sin_addr, 4) == 0 &&
                         reinterpret_cast<const sockaddr_in*>(from)->sin_port ==
                             reinterpret_cast<const sockaddr_in*>(&to.storage)->sin_port
                   : std::memcmp(&reinterpret_cast<const sockaddr_in6*>(from)->sin6_addr,
                                 &reinterpret_cast<const sockaddr_in6*>(&to.storage)->sin6_addr, 16) == 0 &&
                         reinterpret_cast<const sockaddr_in6*>(from)->sin6_port ==
                             reinterpret_cast<const sockaddr_in6*>(&to.storage)->sin6_port);
  if (!same) return;
  OnReply(it->first, data, size);
}

void Forwarder::OnReply(uint16_t upstream_id, const uint8_t* data, size_t size) {
  auto it = pending_.find(upstream_id);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  if (size < dns::kHeaderSize || (data[2] & 0x80) == 0 || dns::Load16(data) != upstream_id ||
      (data[3] & 0x0F) == dns::kRcodeServFail) {
    Abandon(p);
    ++p.recursor;
    TryNext(upstream_id);
    return;
  }
  Abandon(p);
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
    if (p.deadline_ms > now) continue;
    Abandon(p);
    ++p.recursor;
    if (!Send(id, p)) {
      Fail(p);
      done.push_back(id);
    }
  }
  for (uint16_t id : done) pending_.erase(id);
}

void Forwarder::Fail(Pending& p) {
  failures_.Add();
  dns::Query q;
  auto* bytes = reinterpret_cast<const uint8_t*>(p.query.data());
  dns::ParseQuery(bytes, p.query.size(), &q);
  uint8_t out[dns::kHeaderSize + dns::kMaxNameLength + 4];
  std::memset(out, 0, dns::kHeaderSize);
  dns::Store16(out, p.client_id);
  dns::Store16(out + 2, dns::kFlagQr | dns::kFlagRa | (q.flags & (dns::kFlagRd | dns::kFlagCd)) |
                            dns::kRcodeServFail);
  size_t size = dns::kHeaderSize;
  if (q.has_question) {
    dns::Store16(out + 4, 1);
    std::memcpy(out + size, q.question, q.question_size);
    size += q.question_size;
  }
  deliver_(p.origin, out, size);
}

}  // namespace svcdns::server
