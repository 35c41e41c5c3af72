// Helpers shared by the integration tests (tests/integration/*.cc): starting
// the real server on the examples, thread-safe queries, raw sockets.
#ifndef SVCDNS_TESTS_INTEGRATION_INTEGRATION_UTIL_H_
#define SVCDNS_TESTS_INTEGRATION_INTEGRATION_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing::integration {

inline std::string ExampleServicesDir() { return SourceDir() + "/deploy/examples/services"; }
inline std::string ExampleCatalog() { return SourceDir() + "/deploy/examples/catalog.json"; }

// Starts the server or fails the test (ASSERT in the caller: use the macro).
#define SVCDNS_START_SERVER(var, ...)                                      \
  auto var##_or = ::svcdns::testing::ServerProcess::Start(__VA_ARGS__);   \
  ASSERT_TRUE(var##_or.ok()) << var##_or.status();                         \
  std::unique_ptr<::svcdns::testing::ServerProcess> var = std::move(*var##_or)

// Query and ASSERT it got an answer: `auto r = ...` must be inside a TEST.
#define SVCDNS_QUERY(var, port, name, type, ...)                                      \
  auto var##_or = ::svcdns::testing::Query("127.0.0.1", port, name, type, ##__VA_ARGS__); \
  ASSERT_TRUE(var##_or.ok()) << var##_or.status();                                    \
  std::unique_ptr<::svcdns::testing::DnsReply> var = std::move(*var##_or)

// A query with an id from a thread-safe counter (testing::Query's id counter
// is a plain static, not meant for several threads).
inline absl::StatusOr<std::unique_ptr<DnsReply>> QueryMt(uint16_t port, const std::string& name,
                                                         ldns_rr_type type,
                                                         const QueryOptions& options = {}) {
  static std::atomic<uint16_t> next_id{0x1000};
  std::string wire = QueryWire(name, type, options.edns, options.edns_size, next_id.fetch_add(1));
  auto raw = Exchange("127.0.0.1", port, wire, options);
  if (!raw.ok()) return raw.status();
  if (raw->empty()) return absl::DeadlineExceededError(absl::StrCat("no answer for ", name));
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, reinterpret_cast<const uint8_t*>(raw->data()), raw->size()) !=
      LDNS_STATUS_OK) {
    return absl::DataLossError(absl::StrCat("unparseable answer for ", name));
  }
  return std::make_unique<DnsReply>(pkt, raw->size());
}

// The header fields of a raw answer.
inline uint16_t RawId(const std::string& wire) {
  return static_cast<uint16_t>((static_cast<uint8_t>(wire[0]) << 8) | static_cast<uint8_t>(wire[1]));
}
inline int RawRcode(const std::string& wire) { return static_cast<uint8_t>(wire[3]) & 0x0F; }
inline bool RawQr(const std::string& wire) { return (static_cast<uint8_t>(wire[2]) & 0x80) != 0; }
inline int RawOpcode(const std::string& wire) { return (static_cast<uint8_t>(wire[2]) >> 3) & 0x0F; }

// The serial of the SOA in the answer section ("ns.consul. hostmaster.consul. 7 3600 ...").
inline uint64_t SoaSerial(const DnsReply& reply) {
  std::vector<std::string> soa = reply.AnswerRdata(LDNS_RR_TYPE_SOA);
  if (soa.size() != 1) return 0;
  std::vector<std::string> fields = absl::StrSplit(soa[0], ' ', absl::SkipEmpty());
  if (fields.size() < 3) return 0;
  return std::stoull(fields[2]);
}

inline std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Types of the records of a section, e.g. {"SOA"}.
inline bool HasSoaInAuthority(const DnsReply& reply) {
  const ldns_rr_list* list = ldns_pkt_authority(reply.pkt());
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    if (ldns_rr_get_type(ldns_rr_list_rr(list, i)) == LDNS_RR_TYPE_SOA) return true;
  }
  return false;
}

inline size_t AnswerCount(const DnsReply& reply) {
  return ldns_rr_list_rr_count(ldns_pkt_answer(reply.pkt()));
}

// A plain TCP connection to the server (raw bytes, for framing tests).
class TcpConn {
 public:
  explicit TcpConn(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~TcpConn() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Reads one length-prefixed message; empty on timeout, EOF or error.
  std::string ReadMessage(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      if (buffer_.size() >= 2) {
        size_t len = (static_cast<uint8_t>(buffer_[0]) << 8) | static_cast<uint8_t>(buffer_[1]);
        if (buffer_.size() >= 2 + len) {
          std::string out = buffer_.substr(2, len);
          buffer_.erase(0, 2 + len);
          return out;
        }
      }
      if (!Fill(deadline)) return "";
    }
  }
  // Waits for the server to close: true on EOF (or reset) before timeout_ms.
  bool WaitClosed(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, std::max(left, 1)) != 1) return false;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
    }
    return false;
  }

  static std::string Frame(const std::string& message) {
    std::string out;
    out.push_back(static_cast<char>(message.size() >> 8));
    out.push_back(static_cast<char>(message.size()));
    return out + message;
  }

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, left) != 1) return false;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    buffer_.append(buf, n);
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

// Parses a raw answer with ldns, or nullptr.
inline std::unique_ptr<DnsReply> Parse(const std::string& raw) {
  ldns_pkt* pkt = nullptr;
  if (raw.empty() || ldns_wire2pkt(&pkt, reinterpret_cast<const uint8_t*>(raw.data()),
                                   raw.size()) != LDNS_STATUS_OK) {
    return nullptr;
  }
  return std::make_unique<DnsReply>(pkt, raw.size());
}

// Copies every regular file of `from` into `to` (an existing directory).
inline void CopyDir(const std::string& from, const std::string& to) {
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    if (entry.is_regular_file()) {
      std::filesystem::copy_file(entry.path(), std::filesystem::path(to) / entry.path().filename());
    }
  }
}

}  // namespace svcdns::testing::integration

#endif  // SVCDNS_TESTS_INTEGRATION_INTEGRATION_UTIL_H_
