// A small UDP DNS load generator for the end-to-end benchmark (one thread,
// sendmmsg/recvmmsg in batches): dnsperf on one core tops out below what a
// single-threaded server answers, so it measures itself more than the server.
//
//   loadgen ADDR PORT QUERIES.bin SECONDS OUTSTANDING [TIMEOUT_MS [udp|udp-spin|tcp|tcp-conn]]
//
// QUERIES.bin is dnsperf's -B format (2-byte length, then the query; its ID
// is overwritten). Keeps OUTSTANDING queries in flight (closed loop), each
// with its own 16-bit ID; a query unanswered after TIMEOUT_MS (default 1000)
// is lost. "udp" sleeps in poll() whenever no answer is waiting; "udp-spin"
// never sleeps (it reads again at once), for a core of its own: over
// loopback, the server's send delivers each answer and, if the generator
// sleeps, wakes it on the server's CPU, so a sleeping generator charges
// the server for its wake-ups, and the more often the slower the server.
// Prints "key value" lines: sent, answered, lost, runtime_s, qps
// (answers received before SECONDS were up, per second),
// p50_us, p99_us, p999_us, rcode_<n> counts, ancount_min/ancount_max and tc
// (answers with TC set). Latency has the resolution of a batch (one clock
// read per recvmmsg).
//
// Over TCP (bench/e2e/run.sh --large-srv) each query of the file is sent once,
// for at most SECONDS: "tcp" pipelines them on one connection, OUTSTANDING in
// flight, writing queries as answers come back; "tcp-conn" opens a connection
// per query, one at a time (latency from connect() to the whole answer). Every
// socket read or write times out after TIMEOUT_MS: the queries then in flight
// are lost (tcp stops there). qps is then every answer over the time to the
// last one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

constexpr int kBatch = 64;
constexpr uint64_t kHistUs = 1000000;  // 1 us bins up to 1 s

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// Latency histogram and answer counts, printed as "key value" lines.
struct Stats {
  std::vector<uint64_t> hist = std::vector<uint64_t>(kHistUs + 1, 0);
  uint64_t rcodes[16] = {}, answered = 0, tc = 0;
  unsigned ancount_min = 65535, ancount_max = 0;

  void Add(uint64_t ns, const unsigned char* m) {
    uint64_t us = ns / 1000;
    ++hist[us < kHistUs ? us : kHistUs];
    ++rcodes[m[3] & 0xF];
    tc += (m[2] & 0x02) != 0;
    unsigned an = unsigned(m[6] << 8 | m[7]);
    ancount_min = std::min(ancount_min, an);
    ancount_max = std::max(ancount_max, an);
    ++answered;
  }

  uint64_t Percentile(double q) const {
    uint64_t want = uint64_t(double(answered) * q), seen = 0;
    for (uint64_t us = 0; us <= kHistUs; ++us) {
      seen += hist[us];
      if (seen > want) return us;
    }
    return kHistUs;
  }

  void Print(uint64_t sent, uint64_t lost, uint64_t stray, double runtime, uint64_t answered_by_stop) const {
    std::printf("sent %llu\nanswered %llu\nlost %llu\nstray %llu\nruntime_s %.6f\nqps %.1f\n",
                (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)lost,
                (unsigned long long)stray, runtime, runtime > 0 ? double(answered_by_stop) / runtime : 0.0);
    std::printf("p50_us %llu\np99_us %llu\np999_us %llu\n", (unsigned long long)Percentile(0.5),
                (unsigned long long)Percentile(0.99), (unsigned long long)Percentile(0.999));
    for (int r = 0; r < 16; ++r) {
      if (rcodes[r]) std::printf("rcode_%d %llu\n", r, (unsigned long long)rcodes[r]);
    }
    std::printf("ancount_min %u\nancount_max %u\ntc %llu\n", answered ? ancount_min : 0, ancount_max,
                (unsigned long long)tc);
  }
};

// A blocking TCP connection whose reads and writes time out; -1 on failure.
int TcpConnect(const sockaddr_in& sa, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const std::string& data) {
  for (size_t off = 0; off < data.size();) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

// Reads length-prefixed messages: one read() (false on EOF, error or
// timeout), then on_message(message, size) for each one complete.
template <typename F>
bool ReadMessages(int fd, std::vector<unsigned char>& buf, size_t& have, F on_message) {
  ssize_t n = read(fd, buf.data() + have, buf.size() - have);
  if (n <= 0) return false;
  have += size_t(n);
  size_t pos = 0;
  while (have - pos >= 2) {
    size_t len = size_t(buf[pos]) << 8 | buf[pos + 1];
    if (have - pos - 2 < len) break;
    if (len >= 12) on_message(buf.data() + pos + 2, len);
    pos += 2 + len;
  }
  std::memmove(buf.data(), buf.data() + pos, have - pos);
  have -= pos;
  return true;
}

int RunTcp(const sockaddr_in& sa, const std::vector<std::string>& queries, bool per_connection,
           double seconds, int window, int timeout_ms) {
  Stats stats;
  std::vector<uint64_t> sent_at(65536, 0);
  std::vector<unsigned char> buf(4 * 65538);
  size_t have = 0;
  uint64_t lost = 0, stray = 0;
  const uint64_t start = NowNs(), stop = start + uint64_t(seconds * 1e9);
  auto framed = [](const std::string& q, uint16_t id) {
    std::string f(2, '\0');
    f[0] = char(q.size() >> 8);
    f[1] = char(q.size() & 0xFF);
    f += q;
    f[2] = char(id >> 8);
    f[3] = char(id & 0xFF);
    return f;
  };
  auto on_answer = [&](const unsigned char* m, size_t) {
    uint16_t id = uint16_t(m[0] << 8 | m[1]);
    if (sent_at[id] == 0) {
      ++stray;
      return;
    }
    stats.Add(NowNs() - sent_at[id], m);
    sent_at[id] = 0;
  };
  size_t next = 0;
  if (per_connection) {
    for (; next < queries.size() && NowNs() < stop; ++next) {
      uint64_t t0 = NowNs();
      int fd = TcpConnect(sa, timeout_ms);
      uint64_t before = stats.answered;
      sent_at[0] = t0;
      have = 0;
      if (fd >= 0 && WriteAll(fd, framed(queries[next], 0))) {
        while (stats.answered == before && ReadMessages(fd, buf, have, on_answer)) {
        }
      }
      if (stats.answered == before) ++lost;
      sent_at[0] = 0;
      if (fd >= 0) close(fd);
    }
  } else {
    int fd = TcpConnect(sa, timeout_ms);
    if (fd < 0) {
      std::perror("connect");
      return 1;
    }
    uint64_t in_flight = 0;
    uint16_t next_id = 1;
    for (;;) {
      std::string out;
      uint64_t now = NowNs();
      for (; now < stop && next < queries.size() && in_flight < uint64_t(window); ++next, ++in_flight) {
        while (sent_at[next_id] != 0 || next_id == 0) ++next_id;
        out += framed(queries[next], next_id);
        sent_at[next_id++] = now;
      }
      if (in_flight == 0) break;
      uint64_t before = stats.answered;
      if ((!out.empty() && !WriteAll(fd, out)) || !ReadMessages(fd, buf, have, on_answer)) break;
      in_flight -= stats.answered - before;
    }
    lost = in_flight;
    close(fd);
  }
  const double runtime = double(NowNs() - start) / 1e9;  // until the last answer
  stats.Print(next, lost, stray, runtime, stats.answered);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s ADDR PORT QUERIES.bin SECONDS OUTSTANDING [TIMEOUT_MS [udp|udp-spin|tcp|tcp-conn]]\n",
                 argv[0]);
    return 2;
  }
  const double seconds = std::atof(argv[4]);
  const int window = std::atoi(argv[5]);
  const int timeout_ms = argc > 6 ? std::atoi(argv[6]) : 1000;
  const uint64_t timeout_ns = uint64_t(timeout_ms) * 1000000u;
  const std::string mode = argc > 7 ? argv[7] : "udp";
  if (window < 1 || window > 60000) {
    std::fprintf(stderr, "OUTSTANDING must be 1..60000\n");
    return 2;
  }

  std::vector<std::string> queries;
  {
    FILE* f = std::fopen(argv[3], "rb");
    if (!f) {
      std::perror(argv[3]);
      return 1;
    }
    unsigned char len[2];
    while (std::fread(len, 1, 2, f) == 2) {
      std::string q(size_t(len[0]) << 8 | len[1], '\0');
      if (std::fread(q.data(), 1, q.size(), f) != q.size() || q.size() < 12) break;
      queries.push_back(std::move(q));
    }
    std::fclose(f);
  }
  if (queries.empty()) {
    std::fprintf(stderr, "no queries in %s\n", argv[3]);
    return 1;
  }

  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(std::atoi(argv[2])));
  if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
    std::fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  if (mode == "tcp" || mode == "tcp-conn") {
    return RunTcp(sa, queries, mode == "tcp-conn", seconds, window, timeout_ms);
  }
  if (mode != "udp" && mode != "udp-spin") {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  const bool spin = mode == "udp-spin";
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    std::perror("connect");
    return 1;
  }
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);

  std::vector<uint64_t> sent_at(65536, 0);  // 0: the ID is free
  std::deque<uint16_t> order;               // IDs in the order sent
  Stats stats;
  uint64_t sent = 0, lost = 0, stray = 0, answered_by_stop = 0;
  int in_flight = 0;
  size_t next_query = 0;
  uint16_t next_id = 0;

  static char out_buf[kBatch][512];
  static char in_buf[kBatch][4096];
  iovec out_iov[kBatch], in_iov[kBatch];
  mmsghdr out_msg[kBatch], in_msg[kBatch];

  const uint64_t start = NowNs();
  const uint64_t stop = start + uint64_t(seconds * 1e9);
  uint64_t now = start, last_sweep = start;
  bool sending = true;
  for (;;) {
    now = NowNs();
    if (sending && now >= stop) {
      sending = false;
      answered_by_stop = stats.answered;
    }
    if (!sending && (in_flight == 0 || now >= stop + timeout_ns)) break;

    // Send until the window is full.
    while (sending && in_flight < window) {
      int n = 0;
      while (n < kBatch && in_flight + n < window) {
        while (sent_at[next_id] != 0) ++next_id;  // still in flight: skip its ID
        const std::string& q = queries[next_query];
        next_query = (next_query + 1) % queries.size();
        std::memcpy(out_buf[n], q.data(), q.size());
        out_buf[n][0] = char(next_id >> 8);
        out_buf[n][1] = char(next_id & 0xFF);
        sent_at[next_id] = now;
        order.push_back(next_id);
        ++next_id;
        out_iov[n] = {out_buf[n], q.size()};
        std::memset(&out_msg[n], 0, sizeof out_msg[n]);
        out_msg[n].msg_hdr.msg_iov = &out_iov[n];
        out_msg[n].msg_hdr.msg_iovlen = 1;
        ++n;
      }
      int done = sendmmsg(fd, out_msg, unsigned(n), 0);
      int ok = done < 0 ? 0 : done;
      for (int i = ok; i < n; ++i) {  // not sent: free the IDs again
        uint16_t id = uint16_t((uint8_t(out_buf[i][0]) << 8) | uint8_t(out_buf[i][1]));
        sent_at[id] = 0;
      }
      sent += uint64_t(ok);
      in_flight += ok;
      if (ok < n) break;  // the socket buffer is full; receive first
    }

    // Receive what is there.
    for (int i = 0; i < kBatch; ++i) {
      in_iov[i] = {in_buf[i], sizeof in_buf[i]};
      std::memset(&in_msg[i], 0, sizeof in_msg[i]);
      in_msg[i].msg_hdr.msg_iov = &in_iov[i];
      in_msg[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(fd, in_msg, kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) {
      if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) {
        std::perror("recvmmsg");
        return 1;
      }
      if (!spin) {
        pollfd p{fd, POLLIN, 0};
        poll(&p, 1, 1);
      }
    } else {
      now = NowNs();
      for (int i = 0; i < got; ++i) {
        if (in_msg[i].msg_len < 12) continue;
        const unsigned char* m = reinterpret_cast<const unsigned char*>(in_buf[i]);
        uint16_t id = uint16_t(m[0] << 8 | m[1]);
        if (sent_at[id] == 0) {
          ++stray;  // late answer of a query already counted lost
          continue;
        }
        stats.Add(now - sent_at[id], m);
        sent_at[id] = 0;
        --in_flight;
      }
    }

    // Expire queries older than the timeout (every 10 ms).
    if (now - last_sweep > 10000000u) {
      last_sweep = now;
      while (!order.empty()) {
        uint16_t id = order.front();
        if (sent_at[id] == 0) {
          order.pop_front();
        } else if (now - sent_at[id] > timeout_ns) {
          sent_at[id] = 0;
          ++lost;
          --in_flight;
          order.pop_front();
        } else {
          break;
        }
      }
    }
  }
  lost += uint64_t(in_flight);
  const double runtime = double(std::min(now, stop) - start) / 1e9;

  stats.Print(sent, lost, stray, runtime, answered_by_stop);
  return 0;
}
