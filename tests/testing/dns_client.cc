#include "tests/testing/dns_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace svcdns::testing {
namespace {

std::string RdfsText(const ldns_rr* rr) {
  std::string out;
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    char* s = ldns_rdf2str(ldns_rr_rdf(rr, i));
    if (!out.empty()) out += " ";
    out += s;
    free(s);
  }
  return out;
}

// Sets up a connected socket to host:port.
absl::StatusOr<int> Connect(const std::string& host, uint16_t port, bool tcp) {
  sockaddr_storage ss{};
  socklen_t len;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError("bad host " + host);
  }
  int fd = socket(ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", host, ":", port, ": ", strerror(errno)));
  }
  return fd;
}

bool WaitReadable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

}  // namespace

std::vector<std::string> DnsReply::Section(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    char* s = ldns_rr2str(ldns_rr_list_rr(list, i));
    out.emplace_back(absl::StripTrailingAsciiWhitespace(s));
    free(s);
  }
  return out;
}

std::vector<std::string> DnsReply::Rdata(const ldns_rr_list* list, ldns_rr_type type) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) == type) out.push_back(RdfsText(rr));
  }
  return out;
}

std::vector<std::string> DnsReply::AnswerRdata(ldns_rr_type type) const {
  return Rdata(ldns_pkt_answer(pkt_), type);
}
std::vector<std::string> DnsReply::AdditionalRdata(ldns_rr_type type) const {
  return Rdata(ldns_pkt_additional(pkt_), type);
}

std::string DnsReply::QuestionName() const {
  const ldns_rr_list* q = ldns_pkt_question(pkt_);
  if (ldns_rr_list_rr_count(q) == 0) return "";
  char* s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(q, 0)));
  std::string out(s);
  free(s);
  return out;
}

std::string QueryWire(const std::string& name, ldns_rr_type type, bool edns,
                      uint16_t edns_size, uint16_t id) {
  ldns_pkt* pkt = nullptr;
  ldns_pkt_query_new_frm_str(&pkt, name.c_str(), type, LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(pkt, id);
  if (edns) {
    ldns_pkt_set_edns_udp_size(pkt, edns_size);
    ldns_pkt_set_edns_do(pkt, false);
    // ldns only writes OPT when some EDNS field is non-default.
    ldns_pkt_set_edns_data(pkt, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 0, ""));
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, pkt, &size);
  std::string out(reinterpret_cast<char*>(wire), size);
  free(wire);
  ldns_pkt_free(pkt);
  return out;
}

absl::StatusOr<std::string> Exchange(const std::string& host, uint16_t port,
                                     const std::string& query, const QueryOptions& options) {
  auto fd = Connect(host, port, options.tcp);
  if (!fd.ok()) return fd.status();
  std::string out;
  if (!options.tcp) {
    send(*fd, query.data(), query.size(), 0);
    if (WaitReadable(*fd, options.timeout_ms)) {
      char buf[65536];
      ssize_t n = recv(*fd, buf, sizeof(buf), 0);
      if (n > 0) out.assign(buf, n);
    }
  } else {
    std::string framed;
    framed.push_back(static_cast<char>(query.size() >> 8));
    framed.push_back(static_cast<char>(query.size()));
    framed += query;
    send(*fd, framed.data(), framed.size(), MSG_NOSIGNAL);
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (got.size() >= 2) {
        size_t len = (static_cast<uint8_t>(got[0]) << 8) | static_cast<uint8_t>(got[1]);
        if (got.size() >= 2 + len) {
          out = got.substr(2, len);
          break;
        }
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()).count());
      if (!WaitReadable(*fd, std::max(left, 1))) break;
      char buf[65536];
      ssize_t n = recv(*fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, n);
    }
  }
  close(*fd);
  return out;
}

absl::StatusOr<std::unique_ptr<DnsReply>> Query(const std::string& host, uint16_t port,
                                                const std::string& name, ldns_rr_type type,
                                                const QueryOptions& options) {
  static uint16_t next_id = 0x4242;
  std::string wire = QueryWire(name, type, options.edns, options.edns_size, ++next_id);
  auto raw = Exchange(host, port, wire, options);
  if (!raw.ok()) return raw.status();
  if (raw->empty()) return absl::DeadlineExceededError(absl::StrCat("no answer for ", name));
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, reinterpret_cast<const uint8_t*>(raw->data()), raw->size()) !=
      LDNS_STATUS_OK) {
    return absl::DataLossError(absl::StrCat("unparseable answer for ", name));
  }
  return std::make_unique<DnsReply>(pkt, raw->size());
}

}  // namespace svcdns::testing
