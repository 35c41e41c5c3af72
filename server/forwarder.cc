#include "server/forwarder.h"

#include <netinet/in.h>

#include <cstring>

#include "dns/protocol.h"
#include "dns/query.h"
#include "server/uv_handle.h"

namespace svcdns::server {

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
            static_cast<Forwarder*>(h->data)->OnReply(
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

bool Forwarder::Send(uint16_t upstream_id, Pending& p) {
  while (p.recursor < recursors_.size()) {
    const ListenAddress& to = recursors_[p.recursor];
    uv_udp_t* socket = to.family() == AF_INET ? v4_ : v6_;
    std::string copy = p.query;
    dns::Store16(reinterpret_cast<uint8_t*>(copy.data()), upstream_id);
    copy[2] |= 0x01;  // RD: we ask the recursor to recurse
    uv_buf_t buf = uv_buf_init(copy.data(), copy.size());
    if (uv_udp_try_send(socket, &buf, 1, reinterpret_cast<const sockaddr*>(&to.storage)) ==
        static_cast<int>(copy.size())) {
      p.deadline_ms = uv_now(loop_) + timeout_ms_;
      return true;
    }
    ++p.recursor;
  }
  return false;
}

void Forwarder::OnReply(const uint8_t* data, size_t size, const sockaddr* from) {
  if (size < dns::kHeaderSize || (data[2] & 0x80) == 0) return;
  auto it = pending_.find(dns::Load16(data));
  if (it == pending_.end()) return;
  Pending& p = it->second;
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
  uint16_t upstream_id = it->first;
  if ((data[3] & 0x0F) == dns::kRcodeServFail) {
    ++p.recursor;
    if (!Send(upstream_id, p)) {
      Fail(p);
      pending_.erase(it);
    }
    return;
  }
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
