// churn_client: measures a DNS server under catalog churn.
//
// Reads a catalog (bench/e2e/gen.py's catalog.json: the protobuf JSON mapping
// of svcdns.v1.Catalog) and, in --mode grpc (svcdns), opens one agent stream
// per node of it to --ingest-addr, Hello + Sync each with its node's
// services and checks; in --mode dns-update (Knot and the like) the server is
// expected to serve gen.py's consul.zone already and the changes are sent as
// RFC 2136 UPDATE messages over UDP to --dns-addr instead.
//
// Then it sends --rate updates per second for --duration seconds, round robin
// over the nodes, each Update with one change:
//   50% check flips (CheckStatus PASSING <-> CRITICAL of an existing check),
//   25% new instances (upsert_service of a new id of an existing service),
//   25% deletions (delete_service_id of an instance this run added; a new
//       instance instead while there is none on the node).
// In dns-update mode each is the matching SRV record of
// <service>.service.consul (class IN to add, class NONE to delete).
//
// Measured:
//  - ack latency of every update: from Write (sendto) to its Ack (the UPDATE
//    response), which svcdns sends once the change is visible in DNS;
//  - visible latency of a sample (every --sample-every'th update, at most
//    --max-probes at once): from the send to the first UDP answer to
//    `<service>.service.consul SRV` (EDNS 1232) that contains (or no longer
//    contains) the instance's port + target, polled from a separate thread
//    every --poll-interval-us per pending sample (less often when that would
//    exceed --max-poll-qps in all: every pending/max-poll-qps s), for at most
//    --probe-timeout.
// Percentiles: ack_* and vis_* over the updates that got there; ack_all_* and
// vis_all_* over every sent update (sample), those never acked (visible)
// before the end of --drain counting as infinitely late ("inf"): the honest
// figure when the server falls behind.
//
// Each churn phase ends with its summary on stdout, "CHURN key=value ..."
// (ms latencies). With --wait-stdin it prints "READY" once set up, and again
// after each summary while phases remain, and waits for a line on stdin
// before each phase starts (bench/e2e/churn.py runs a quiet load in between).
// --phases N runs N phases of --duration s each on the same streams and
// catalog model, each measured on its own: an update still unacked after
// its phase's drain counts there as infinitely late, and if its ack comes
// later, it is only counted (late_acks_of_earlier_phases) in the phase it
// arrives in.
//
//   churn_client --catalog catalog.json [--mode grpc|dns-update]
//     [--ingest-addr 127.0.0.1:8502] [--dns-addr 127.0.0.1:8600] [--zone consul]
//     [--rate 1000] [--duration 20] [--sample-every 10] [--max-probes 100000]
//     [--poll-interval-us 1000] [--max-poll-qps 5000] [--probe-timeout 60] [--drain 30]
//     [--seed 1] [--wait-stdin] [--phases 1]
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proto/catalog.grpc.pb.h"

namespace {

namespace v1 = ::svcdns::v1;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

void SleepUntil(uint64_t ns) {
  timespec ts{time_t(ns / 1000000000u), long(ns % 1000000000u)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

struct Options {
  std::string catalog;
  std::string mode = "grpc";
  std::string ingest_addr = "127.0.0.1:8502";
  std::string dns_addr = "127.0.0.1:8600";
  std::string zone = "consul";
  double rate = 1000;
  double duration = 20;
  int sample_every = 10;
  int max_probes = 100000;
  int max_poll_qps = 5000;
  int poll_interval_us = 1000;
  double probe_timeout = 60;
  double drain = 30;
  unsigned seed = 1;
  bool wait_stdin = false;
  int phases = 1;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "churn_client: %s\n(see the comment at the top of bench/churn_client.cc)\n", why);
  std::exit(2);
}

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (a == "--wait-stdin") {
      o.wait_stdin = true;
      continue;
    }
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      v = argv[++i];
    }
    if (a == "--catalog") o.catalog = v;
    else if (a == "--mode") o.mode = v;
    else if (a == "--ingest-addr") o.ingest_addr = v;
    else if (a == "--dns-addr") o.dns_addr = v;
    else if (a == "--zone") o.zone = v;
    else if (a == "--rate") o.rate = std::atof(v.c_str());
    else if (a == "--duration") o.duration = std::atof(v.c_str());
    else if (a == "--sample-every") o.sample_every = std::atoi(v.c_str());
    else if (a == "--max-probes") o.max_probes = std::atoi(v.c_str());
    else if (a == "--max-poll-qps") o.max_poll_qps = std::atoi(v.c_str());
    else if (a == "--poll-interval-us") o.poll_interval_us = std::atoi(v.c_str());
    else if (a == "--probe-timeout") o.probe_timeout = std::atof(v.c_str());
    else if (a == "--drain") o.drain = std::atof(v.c_str());
    else if (a == "--seed") o.seed = unsigned(std::atoi(v.c_str()));
    else if (a == "--phases") o.phases = std::atoi(v.c_str());
    else Usage(("unknown flag " + a).c_str());
  }
  if (o.catalog.empty()) Usage("--catalog is required");
  if (o.mode != "grpc" && o.mode != "dns-update") Usage("--mode is grpc or dns-update");
  if (o.rate <= 0 || o.duration <= 0 || o.sample_every < 1 || o.max_probes < 1 ||
      o.phases < 1) Usage("bad numbers");
  return o;
}

sockaddr_in ParseAddr(const std::string& hp) {
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) Usage(("HOST:PORT expected: " + hp).c_str());
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(std::atoi(hp.c_str() + colon + 1)));
  if (inet_pton(AF_INET, hp.substr(0, colon).c_str(), &sa.sin_addr) != 1) Usage(("bad IPv4 address: " + hp).c_str());
  return sa;
}

// ---- the model: what the client knows of the catalog ----------------------

struct Instance {
  int node = 0;
  std::string id, service, check_id;  // check_id empty: no check
  uint32_t port = 0;
  bool visible = true;                // in DNS answers (no critical check, not deleted)
  bool added = false;                 // added by this run (deletable)
  std::atomic<bool> probing{false};   // a visibility probe is pending: leave it alone
};

struct NodeModel {
  v1::NodeState state;
  std::vector<Instance*> flippable;   // instances with a check
  std::vector<Instance*> added;       // instances this run added and not deleted yet
};

// ---- DNS wire helpers --------------------------------------------------------

void PutName(std::string& w, const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    w.push_back(char(dot - start));
    w.append(name, start, dot - start);
    start = dot + 1;
  }
  w.push_back('\0');
}

void Put16(std::string& w, uint16_t v) {
  w.push_back(char(v >> 8));
  w.push_back(char(v & 0xFF));
}

void Put32(std::string& w, uint32_t v) {
  Put16(w, uint16_t(v >> 16));
  Put16(w, uint16_t(v & 0xFFFF));
}

std::string SrvQuery(uint16_t id, const std::string& name) {
  std::string w;
  Put16(w, id);
  Put16(w, 0x0100);
  Put16(w, 1);
  Put16(w, 0);
  Put16(w, 0);
  Put16(w, 1);
  PutName(w, name);
  Put16(w, 33);
  Put16(w, 1);
  w.push_back('\0');  // OPT
  Put16(w, 41);
  Put16(w, 1232);
  Put32(w, 0);
  Put16(w, 0);
  return w;
}

// RFC 2136: add (class IN) or delete (class NONE) one SRV record.
std::string SrvUpdate(uint16_t id, const std::string& zone, const std::string& owner, uint16_t port,
                      const std::string& target, bool add) {
  std::string w;
  Put16(w, id);
  Put16(w, 0x2800);  // opcode UPDATE
  Put16(w, 1);       // zone
  Put16(w, 0);       // prerequisites
  Put16(w, 1);       // updates
  Put16(w, 0);
  PutName(w, zone);
  Put16(w, 6);
  Put16(w, 1);
  PutName(w, owner);
  Put16(w, 33);
  Put16(w, add ? 1 : 254);
  Put32(w, 0);
  std::string rd;
  Put16(rd, 1);
  Put16(rd, 1);
  Put16(rd, port);
  PutName(rd, target);
  Put16(w, uint16_t(rd.size()));
  w += rd;
  return w;
}

// Reads a (possibly compressed) name at `off`; false if malformed.
bool ReadName(const unsigned char* m, size_t len, size_t& off, std::string& out) {
  out.clear();
  size_t pos = off;
  bool jumped = false;
  for (int hops = 0; hops < 64; ++hops) {
    if (pos >= len) return false;
    unsigned n = m[pos];
    if ((n & 0xC0) == 0xC0) {
      if (pos + 1 >= len) return false;
      if (!jumped) off = pos + 2;
      pos = ((n & 0x3F) << 8) | m[pos + 1];
      jumped = true;
      continue;
    }
    ++pos;
    if (n == 0) {
      if (!jumped) off = pos;
      return true;
    }
    if (pos + n > len) return false;
    if (!out.empty()) out.push_back('.');
    for (unsigned i = 0; i < n; ++i) out.push_back(char(std::tolower(m[pos + i])));
    pos += n;
  }
  return false;
}

// Whether an SRV answer holds (port, target). nullopt-ish: -1 if unusable.
int SrvContains(const unsigned char* m, size_t len, uint16_t port, const std::string& target) {
  if (len < 12) return -1;
  unsigned rcode = m[3] & 0xF;
  if (rcode == 3) return 0;  // NXDOMAIN: no healthy instance at all
  if (rcode != 0) return -1;
  unsigned qd = m[4] << 8 | m[5], an = m[6] << 8 | m[7];
  size_t off = 12;
  std::string name;
  for (unsigned i = 0; i < qd; ++i) {
    if (!ReadName(m, len, off, name)) return -1;
    off += 4;
  }
  for (unsigned i = 0; i < an; ++i) {
    if (!ReadName(m, len, off, name) || off + 10 > len) return -1;
    unsigned type = m[off] << 8 | m[off + 1];
    unsigned rdlen = m[off + 8] << 8 | m[off + 9];
    off += 10;
    if (off + rdlen > len) return -1;
    if (type == 33 && rdlen > 6) {
      unsigned p = m[off + 4] << 8 | m[off + 5];
      size_t toff = off + 6;
      std::string t;
      if (p == port && ReadName(m, len, toff, t) && t == target) return 1;
    }
    off += rdlen;
  }
  return 0;
}

// ---- statistics ---------------------------------------------------------------

struct Stats {
  std::mutex mu;
  std::vector<double> ack_ms;      // every acked update
  std::vector<double> vis_ms;      // sampled updates, first visible answer
  std::vector<double> vis_ack_ms;  // sampled updates, their ack
  std::set<uint64_t> indexes;      // distinct Ack.index values (svcdns publications)
  uint64_t acks_in_window = 0;     // acks received before the churn's end
  uint64_t late_earlier = 0;       // acks of updates sent in an earlier phase
  uint64_t update_errors = 0;      // non-NOERROR UPDATE responses, stream failures
};

// Over v plus `missing` infinitely late ones.
std::string PctAll(std::vector<double> v, size_t missing, const char* prefix) {
  std::sort(v.begin(), v.end());
  size_t n = v.size() + missing;
  auto at = [&](double q) -> std::string {
    if (n == 0) return "nan";
    size_t k = std::min(n - 1, size_t(q * double(n)));
    if (k >= v.size()) return "inf";
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v[k]);
    return b;
  };
  std::string m = missing ? "inf" : at(1.0);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s_n=%zu %s_p50_ms=%s %s_p99_ms=%s %s_max_ms=%s", prefix, n, prefix,
                at(0.5).c_str(), prefix, at(0.99).c_str(), prefix, m.c_str());
  return buf;
}

std::string Pct(std::vector<double> v, const char* prefix) {
  char buf[256];
  if (v.empty()) {
    std::snprintf(buf, sizeof buf, "%s_n=0 %s_p50_ms=nan %s_p99_ms=nan %s_max_ms=nan", prefix, prefix, prefix,
                  prefix);
    return buf;
  }
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, size_t(q * double(v.size())))]; };
  std::snprintf(buf, sizeof buf, "%s_n=%zu %s_p50_ms=%.2f %s_p99_ms=%.2f %s_max_ms=%.2f", prefix, v.size(), prefix,
                at(0.5), prefix, at(0.99), prefix, v.back());
  return buf;
}

// ---- the visibility poller -----------------------------------------------------

struct Probe {
  std::string qname, target;
  uint16_t port = 0;
  bool want_present = true;
  uint64_t sent_ns = 0;
  Instance* inst = nullptr;
  std::shared_ptr<std::atomic<uint64_t>> ack_ns;  // set when the update's ack arrives (0: not yet)
  // poller state
  uint64_t next_poll_ns = 0, query_sent_ns = 0;
  int qid = -1;
};

class Poller {
 public:
  Poller(const sockaddr_in& server, const Options& o, Stats* stats) : o_(o), stats_(stats) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
      std::perror("poller socket");
      std::exit(1);
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~Poller() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int pending() const { return pending_.load(); }
  void Add(std::unique_ptr<Probe> p) {
    ++pending_;
    std::lock_guard<std::mutex> l(mu_);
    incoming_.push_back(std::move(p));
  }
  uint64_t queries() const { return queries_; }
  uint64_t vis_pending() const { return uint64_t(pending_.load()); }
  uint64_t timeouts() const { return timeouts_; }

 private:
  void Finish(size_t i, bool seen, uint64_t now) {
    Probe& p = *active_[i];
    if (seen) {
      std::lock_guard<std::mutex> l(stats_->mu);
      stats_->vis_ms.push_back(double(now - p.sent_ns) / 1e6);
      uint64_t a = p.ack_ns->load();
      if (a) stats_->vis_ack_ms.push_back(double(a - p.sent_ns) / 1e6);
    } else {
      ++timeouts_;
    }
    if (p.qid >= 0) by_id_.erase(uint16_t(p.qid));
    p.inst->probing = false;
    active_[i] = std::move(active_.back());
    active_.pop_back();
    if (i < active_.size() && active_[i]->qid >= 0) by_id_[uint16_t(active_[i]->qid)] = i;
    --pending_;
  }

  void Run() {
    unsigned char buf[4096];
    const uint64_t min_interval = uint64_t(o_.poll_interval_us) * 1000u;
    const uint64_t timeout = uint64_t(o_.probe_timeout * 1e9);
    while (!stop_) {
      {
        std::lock_guard<std::mutex> l(mu_);
        for (auto& p : incoming_) active_.push_back(std::move(p));
        incoming_.clear();
      }
      uint64_t now = NowNs();
      // every pending sample polled every `interval`, at most max_poll_qps queries in all
      const uint64_t interval =
          std::max(min_interval, uint64_t(double(active_.size()) * 1e9 / std::max(1, o_.max_poll_qps)));
      for (size_t i = 0; i < active_.size();) {
        Probe& p = *active_[i];
        if (now - p.sent_ns > timeout) {
          Finish(i, false, now);
          continue;
        }
        // a query in flight for more than 200 ms is lost: ask again
        if ((p.qid < 0 && now >= p.next_poll_ns) || (p.qid >= 0 && now - p.query_sent_ns > 200000000u)) {
          if (p.qid >= 0) by_id_.erase(uint16_t(p.qid));
          uint16_t id = next_id_++;
          while (by_id_.count(id)) id = next_id_++;
          std::string q = SrvQuery(id, p.qname);
          if (send(fd_, q.data(), q.size(), 0) == ssize_t(q.size())) {
            p.qid = id;
            p.query_sent_ns = now;
            by_id_[id] = i;
            ++queries_;
          } else {
            p.qid = -1;
            p.next_poll_ns = now + interval;
          }
        }
        ++i;
      }
      pollfd pfd{fd_, POLLIN, 0};
      poll(&pfd, 1, 1);
      const uint64_t interval2 = interval;
      for (;;) {
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n < 12) break;
        uint16_t id = uint16_t(buf[0] << 8 | buf[1]);
        auto it = by_id_.find(id);
        if (it == by_id_.end()) continue;
        size_t i = it->second;
        Probe& p = *active_[i];
        uint64_t t = NowNs();
        by_id_.erase(it);
        p.qid = -1;
        int has = SrvContains(buf, size_t(n), p.port, p.target);
        if (has >= 0 && bool(has) == p.want_present) {
          Finish(i, true, t);
        } else {
          p.next_poll_ns = t + interval2;
        }
      }
    }
  }

  const Options& o_;
  Stats* stats_;
  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> pending_{0};
  std::mutex mu_;
  std::vector<std::unique_ptr<Probe>> incoming_;
  std::vector<std::unique_ptr<Probe>> active_;
  std::unordered_map<uint16_t, size_t> by_id_;
  uint16_t next_id_ = 1;
  std::atomic<uint64_t> queries_{0}, timeouts_{0};
};

// ---- transports: how an update reaches the server and how its ack comes back ----

struct Sent {
  uint64_t ns;
  std::shared_ptr<std::atomic<uint64_t>> ack_ns;  // null unless sampled
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one change of node `node`; `ack` (may be null) is set to the ack time.
  virtual bool Send(int node, const v1::Change& change, const Instance& inst, bool add_or_visible,
                    std::shared_ptr<std::atomic<uint64_t>> ack) = 0;
  virtual uint64_t outstanding() = 0;
};

std::atomic<uint64_t> g_churn_end_ns{~uint64_t(0)};
std::atomic<uint64_t> g_phase_start_ns{0};

void RecordAck(Stats* stats, uint64_t sent_ns, uint64_t now, uint64_t index) {
  std::lock_guard<std::mutex> l(stats->mu);
  // An update of an earlier phase, acked after that phase's drain: it was
  // counted there as unacked (infinitely late), not here.
  if (sent_ns < g_phase_start_ns.load()) {
    ++stats->late_earlier;
    return;
  }
  stats->ack_ms.push_back(double(now - sent_ns) / 1e6);
  if (index) stats->indexes.insert(index);
  if (now <= g_churn_end_ns.load()) ++stats->acks_in_window;
}

class AgentStream {
 public:
  AgentStream(std::shared_ptr<grpc::Channel> channel, const v1::NodeState* state, Stats* stats)
      : stub_(v1::Ingest::NewStub(channel)), state_(state), stats_(stats) {}

  void Start(std::atomic<int>* ready, std::atomic<int>* failed) {
    thread_ = std::thread([this, ready, failed] {
      stream_ = stub_->Stream(&context_);
      v1::AgentMessage hello;
      hello.set_sequence(++seq_);
      *hello.mutable_hello()->mutable_node() = state_->node();
      hello.mutable_hello()->set_agent_version("churn_client");
      v1::ServerMessage m;
      if (!stream_->Write(hello) || !stream_->Read(&m) || !m.has_welcome()) {
        ++*failed;
        return;
      }
      v1::AgentMessage sync;
      sync.set_sequence(++seq_);
      for (const auto& s : state_->services()) *sync.mutable_sync()->add_services() = s;
      for (const auto& c : state_->checks()) *sync.mutable_sync()->add_checks() = c;
      if (!stream_->Write(sync) || !stream_->Read(&m) || !m.has_ack() || m.ack().sequence() != sync.sequence()) {
        ++*failed;
        return;
      }
      ++*ready;
      while (stream_->Read(&m)) {
        if (!m.has_ack()) continue;
        uint64_t now = NowNs();
        std::lock_guard<std::mutex> l(mu_);
        // an ack of S acknowledges everything up to S
        while (!sent_.empty() && sent_.begin()->first <= m.ack().sequence()) {
          auto& s = sent_.begin()->second;
          RecordAck(stats_, s.ns, now, m.ack().index());
          if (s.ack_ns) s.ack_ns->store(now);
          sent_.erase(sent_.begin());
        }
      }
      broken_ = true;
    });
  }

  bool Send(const v1::Change& change, std::shared_ptr<std::atomic<uint64_t>> ack) {
    v1::AgentMessage u;
    u.set_sequence(++seq_);
    *u.mutable_update()->add_changes() = change;
    {
      std::lock_guard<std::mutex> l(mu_);
      sent_[u.sequence()] = Sent{NowNs(), std::move(ack)};
    }
    if (broken_ || !stream_->Write(u)) {
      std::lock_guard<std::mutex> l(mu_);
      sent_.erase(u.sequence());
      return false;
    }
    return true;
  }

  uint64_t outstanding() {
    std::lock_guard<std::mutex> l(mu_);
    return sent_.size();
  }

  void Stop() {
    context_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::unique_ptr<v1::Ingest::Stub> stub_;
  const v1::NodeState* state_;
  Stats* stats_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ServerMessage>> stream_;
  std::thread thread_;
  uint64_t seq_ = 0;  // written by the setup thread, then by the sender only
  std::mutex mu_;
  std::map<uint64_t, Sent> sent_;
  std::atomic<bool> broken_{false};
};

class GrpcTransport : public Transport {
 public:
  GrpcTransport(const Options& o, std::vector<NodeModel>& nodes, Stats* stats) {
    // a few channels (HTTP/2 connections) shared by the streams, as many agents would have their own
    for (int i = 0; i < 8; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("churn_channel", i);  // distinct arguments: distinct connections
      args.SetMaxSendMessageSize(64 << 20);
      channels_.push_back(grpc::CreateCustomChannel(o.ingest_addr, grpc::InsecureChannelCredentials(), args));
    }
    std::atomic<int> ready{0}, failed{0};
    uint64_t t0 = NowNs();
    for (size_t i = 0; i < nodes.size(); ++i) {
      streams_.push_back(std::make_unique<AgentStream>(channels_[i % channels_.size()], &nodes[i].state, stats));
      streams_.back()->Start(&ready, &failed);
    }
    while (ready + failed < int(nodes.size())) {
      if (NowNs() - t0 > 600000000000ull) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (failed || ready < int(nodes.size())) {
      std::fprintf(stderr, "churn_client: %d of %zu streams failed to register\n", int(nodes.size()) - ready.load(),
                   nodes.size());
      std::exit(1);
    }
    setup_s_ = double(NowNs() - t0) / 1e9;
  }
  ~GrpcTransport() override {
    for (auto& s : streams_) s->Stop();
  }
  bool Send(int node, const v1::Change& change, const Instance&, bool,
            std::shared_ptr<std::atomic<uint64_t>> ack) override {
    return streams_[node]->Send(change, std::move(ack));
  }
  uint64_t outstanding() override {
    uint64_t n = 0;
    for (auto& s : streams_) n += s->outstanding();
    return n;
  }
  double setup_s() const { return setup_s_; }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<AgentStream>> streams_;
  double setup_s_ = 0;
};

class DnsUpdateTransport : public Transport {
 public:
  DnsUpdateTransport(const Options& o, const std::vector<NodeModel>& nodes, Stats* stats)
      : o_(o), nodes_(nodes), stats_(stats), sent_(65536) {
    sockaddr_in sa = ParseAddr(o.dns_addr);
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
      std::perror("update socket");
      std::exit(1);
    }
    timeval tv{0, 100000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int sz = 4 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    reader_ = std::thread([this] { Read(); });
  }
  ~DnsUpdateTransport() override {
    stop_ = true;
    reader_.join();
    close(fd_);
  }
  bool Send(int node, const v1::Change&, const Instance& inst, bool add,
            std::shared_ptr<std::atomic<uint64_t>> ack) override {
    uint16_t id = next_id_++;
    std::string w = SrvUpdate(id, o_.zone, inst.service + ".service." + o_.zone, uint16_t(inst.port),
                              nodes_[inst.node].state.node().name() + ".node.dc1." + o_.zone, add);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (sent_[id].ns) ++lost_;  // wrapped around unanswered
      sent_[id] = Sent{NowNs(), std::move(ack)};
      ++outstanding_;
    }
    return send(fd_, w.data(), w.size(), 0) == ssize_t(w.size());
  }
  uint64_t outstanding() override {
    std::lock_guard<std::mutex> l(mu_);
    return outstanding_;
  }

 private:
  void Read() {
    unsigned char buf[4096];
    while (!stop_) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 12) continue;
      uint64_t now = NowNs();
      uint16_t id = uint16_t(buf[0] << 8 | buf[1]);
      std::lock_guard<std::mutex> l(mu_);
      Sent& s = sent_[id];
      if (!s.ns) continue;
      if ((buf[3] & 0xF) != 0) {
        std::lock_guard<std::mutex> l2(stats_->mu);
        ++stats_->update_errors;
      }
      RecordAck(stats_, s.ns, now, 0);
      if (s.ack_ns) s.ack_ns->store(now);
      s = Sent{0, nullptr};
      --outstanding_;
    }
  }

  const Options& o_;
  const std::vector<NodeModel>& nodes_;
  Stats* stats_;
  int fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Sent> sent_;
  uint16_t next_id_ = 1;
  uint64_t outstanding_ = 0, lost_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseFlags(argc, argv);

  // ---- the catalog
  v1::Catalog catalog;
  {
    std::ifstream f(o.catalog);
    if (!f) Usage(("cannot read " + o.catalog).c_str());
    std::stringstream ss;
    ss << f.rdbuf();
    google::protobuf::util::JsonParseOptions jo;
    jo.ignore_unknown_fields = true;
    auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &catalog, jo);
    if (!st.ok()) Usage(("bad catalog JSON: " + std::string(st.ToString())).c_str());
  }
  std::vector<NodeModel> nodes(catalog.nodes_size());
  std::deque<Instance> instances;  // stable addresses
  std::map<std::string, int> service_sizes;
  size_t total = 0;
  for (int n = 0; n < catalog.nodes_size(); ++n) {
    NodeModel& nm = nodes[n];
    nm.state = catalog.nodes(n);
    std::unordered_map<std::string, Instance*> by_id;
    for (const auto& s : nm.state.services()) {
      Instance& in = instances.emplace_back();
      in.node = n;
      in.id = s.id();
      in.service = s.name();
      in.port = s.port();
      by_id[s.id()] = &in;
      ++service_sizes[s.name()];
      ++total;
    }
    for (const auto& c : nm.state.checks()) {
      auto it = by_id.find(c.service_id());
      if (it == by_id.end() || !it->second->check_id.empty()) continue;
      it->second->check_id = c.id();
      it->second->visible = c.status() != v1::HEALTH_STATUS_CRITICAL;
      nm.flippable.push_back(it->second);
    }
  }
  // instances sharing (service, port, node) with another can't be told apart in an SRV answer
  {
    std::map<std::tuple<std::string, uint32_t, int>, int> seen;
    for (auto& in : instances) ++seen[{in.service, in.port, in.node}];
    for (auto& nm : nodes)
      std::erase_if(nm.flippable, [&](Instance* in) { return seen[{in->service, in->port, in->node}] > 1; });
  }
  std::vector<std::string> service_names;
  for (auto& [name, _] : service_sizes) service_names.push_back(name);
  if (nodes.empty() || service_names.empty()) Usage("empty catalog");
  std::fprintf(stderr, "churn_client: %zu nodes, %zu services, %zu instances, mode %s\n", nodes.size(),
               service_names.size(), total, o.mode.c_str());

  Stats stats;
  std::unique_ptr<Transport> transport;
  double setup_s = 0;
  if (o.mode == "grpc") {
    auto g = std::make_unique<GrpcTransport>(o, nodes, &stats);
    setup_s = g->setup_s();
    transport = std::move(g);
    std::fprintf(stderr, "churn_client: %zu streams registered in %.2f s\n", nodes.size(), setup_s);
  } else {
    transport = std::make_unique<DnsUpdateTransport>(o, nodes, &stats);
  }
  // The model (instances added, checks flipped) carries over from phase to
  // phase; the measurements start again.
  std::mt19937_64 rng(o.seed);
  uint32_t next_port = 30000;
  uint64_t add_counter = 0;
  for (int phase = 0; phase < o.phases; ++phase) {
    {
      std::lock_guard<std::mutex> l(stats.mu);
      stats.ack_ms.clear();
      stats.vis_ms.clear();
      stats.vis_ack_ms.clear();
      stats.indexes.clear();
      stats.acks_in_window = 0;
      stats.late_earlier = 0;
      stats.update_errors = 0;
    }
    if (o.wait_stdin) {
      std::printf("READY\n");
      std::fflush(stdout);
      std::string line;
      std::getline(std::cin, line);
    }

    Poller poller(ParseAddr(o.dns_addr), o, &stats);
    const uint64_t total_updates = uint64_t(o.rate * o.duration);
    const double period_ns = 1e9 / o.rate;
    uint64_t sent = 0, send_failures = 0, skipped_samples = 0, flips = 0, adds = 0, dels = 0;
    const uint64_t t0 = NowNs();
    g_phase_start_ns = t0;
    g_churn_end_ns = t0 + uint64_t(o.duration * 1e9);
    for (uint64_t i = 0; i < total_updates; ++i) {
      SleepUntil(t0 + uint64_t(double(i) * period_ns));
      int node = int(i % nodes.size());
      NodeModel& nm = nodes[node];
      int kind = int(rng() % 4);  // 0,1 flip, 2 add, 3 delete
      v1::Change change;
      Instance* inst = nullptr;
      bool now_visible = true;
      if (kind <= 1 && !nm.flippable.empty()) {
        for (int tries = 0; tries < 8 && !inst; ++tries) {
          Instance* c = nm.flippable[rng() % nm.flippable.size()];
          if (!c->probing) inst = c;
        }
      }
      if (inst) {
        inst->visible = !inst->visible;
        now_visible = inst->visible;
        auto* cs = change.mutable_check_status();
        cs->set_check_id(inst->check_id);
        cs->set_status(inst->visible ? v1::HEALTH_STATUS_PASSING : v1::HEALTH_STATUS_CRITICAL);
        cs->set_output("churn");
        ++flips;
      } else if (kind == 3 && !nm.added.empty()) {
        size_t k = rng() % nm.added.size();
        if (!nm.added[k]->probing) {
          inst = nm.added[k];
          nm.added[k] = nm.added.back();
          nm.added.pop_back();
          inst->visible = false;
          now_visible = false;
          change.set_delete_service_id(inst->id);
          ++dels;
        }
      }
      if (!inst) {  // add a new instance of an existing service
        Instance& in = instances.emplace_back();
        in.node = node;
        in.id = "churn-" + std::to_string(add_counter++);
        in.service = service_names[rng() % service_names.size()];
        in.port = next_port;
        next_port = next_port >= 65000 ? 30000 : next_port + 1;
        in.added = true;
        inst = &in;
        nm.added.push_back(inst);
        auto* s = change.mutable_upsert_service();
        s->set_id(in.id);
        s->set_name(in.service);
        s->set_port(in.port);
        s->add_tags("churn");
        now_visible = true;
        ++adds;
      }
      std::shared_ptr<std::atomic<uint64_t>> ack;
      std::unique_ptr<Probe> probe;
      if (i % uint64_t(o.sample_every) == 0) {
        if (poller.pending() < o.max_probes) {
          ack = std::make_shared<std::atomic<uint64_t>>(0);
          probe = std::make_unique<Probe>();
          probe->qname = inst->service + ".service." + o.zone;
          probe->target = nodes[node].state.node().name() + ".node.dc1." + o.zone;
          probe->port = uint16_t(inst->port);
          probe->want_present = now_visible;
          probe->inst = inst;
          probe->ack_ns = ack;
          inst->probing = true;
        } else {
          ++skipped_samples;
        }
      }
      uint64_t before = NowNs();
      if (!transport->Send(node, change, *inst, now_visible, ack)) {
        ++send_failures;
        if (probe) inst->probing = false;
        continue;
      }
      ++sent;
      if (probe) {
        probe->sent_ns = before;
        poller.Add(std::move(probe));
      }
    }
    const uint64_t t_end = NowNs();
    const double send_s = double(t_end - t0) / 1e9;
    std::fprintf(stderr, "churn_client: sent %llu updates in %.2f s; draining\n", (unsigned long long)sent, send_s);

    // wait for the acks and the probes still pending
    const uint64_t drain_deadline = t_end + uint64_t(o.drain * 1e9);
    while (NowNs() < drain_deadline && (transport->outstanding() > 0 || poller.pending() > 0))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint64_t unacked;  // of this phase's updates
    {
      std::lock_guard<std::mutex> l(stats.mu);
      unacked = sent - std::min<uint64_t>(sent, stats.ack_ms.size());
    }
    const double drain_s = double(NowNs() - t_end) / 1e9;

    {
      std::lock_guard<std::mutex> l(stats.mu);
      std::printf(
          "CHURN phase=%d mode=%s nodes=%zu instances=%zu setup_s=%.2f rate_target=%.0f duration_s=%.1f sent=%llu "
          "send_rate=%.1f send_failures=%llu flips=%llu adds=%llu dels=%llu acked=%zu unacked=%llu "
          "acks_in_window=%llu ack_rate_in_window=%.1f update_errors=%llu publications=%zu drain_s=%.2f "
          "%s %s %s %s vis_timeouts=%llu vis_pending=%llu samples_skipped=%llu probe_queries=%llu "
          "late_acks_of_earlier_phases=%llu\n",
          phase + 1, o.mode.c_str(), nodes.size(), total, setup_s, o.rate, o.duration, (unsigned long long)sent,
          double(sent) / send_s, (unsigned long long)send_failures, (unsigned long long)flips,
          (unsigned long long)adds, (unsigned long long)dels, stats.ack_ms.size(), (unsigned long long)unacked,
          (unsigned long long)stats.acks_in_window, double(stats.acks_in_window) / o.duration,
          (unsigned long long)stats.update_errors, stats.indexes.size(), drain_s, Pct(stats.ack_ms, "ack").c_str(),
          Pct(stats.vis_ms, "vis").c_str(), PctAll(stats.ack_ms, size_t(unacked), "ack_all").c_str(),
          PctAll(stats.vis_ms, size_t(poller.timeouts() + poller.vis_pending()), "vis_all").c_str(),
          (unsigned long long)poller.timeouts(), (unsigned long long)poller.vis_pending(), (unsigned long long)skipped_samples,
          (unsigned long long)poller.queries(), (unsigned long long)stats.late_earlier);
    }
    std::fflush(stdout);
    std::fflush(stderr);
  }
  _exit(0);  // skip tearing down 100 streams
}
