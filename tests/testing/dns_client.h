// A small DNS client for tests, built on ldns (an independent parser: the
// answers are checked by code that is not ours).
#ifndef SVCDNS_TESTS_TESTING_DNS_CLIENT_H_
#define SVCDNS_TESTS_TESTING_DNS_CLIENT_H_

// ldns defines bool/true/false as macros unless stdbool.h came first.
#include <stdbool.h>  // NOLINT

#include <ldns/ldns.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace svcdns::testing {

struct QueryOptions {
  bool tcp = false;
  bool edns = false;
  uint16_t edns_size = 1232;
  int timeout_ms = 2000;
};

// A parsed answer; owns its ldns packet.
class DnsReply {
 public:
  explicit DnsReply(ldns_pkt* pkt, size_t wire_size) : pkt_(pkt), wire_size_(wire_size) {}
  ~DnsReply() { ldns_pkt_free(pkt_); }
  DnsReply(const DnsReply&) = delete;
  DnsReply& operator=(const DnsReply&) = delete;

  const ldns_pkt* pkt() const { return pkt_; }
  size_t wire_size() const { return wire_size_; }
  int rcode() const { return ldns_pkt_get_rcode(pkt_); }
  bool aa() const { return ldns_pkt_aa(pkt_); }
  bool tc() const { return ldns_pkt_tc(pkt_); }
  bool ra() const { return ldns_pkt_ra(pkt_); }
  bool has_edns() const { return ldns_pkt_edns(pkt_); }
  uint16_t id() const { return ldns_pkt_id(pkt_); }

  // Records of a section as "owner ttl class type rdata" text.
  std::vector<std::string> Answer() const { return Section(ldns_pkt_answer(pkt_)); }
  std::vector<std::string> Authority() const { return Section(ldns_pkt_authority(pkt_)); }
  std::vector<std::string> Additional() const { return Section(ldns_pkt_additional(pkt_)); }
  // Just the rdata of answer records of `type` ("10.0.0.1", "1 1 8080 n1.node.dc1.consul.").
  std::vector<std::string> AnswerRdata(ldns_rr_type type) const;
  std::vector<std::string> AdditionalRdata(ldns_rr_type type) const;
  std::string QuestionName() const;  // as echoed, with its letter case

 private:
  static std::vector<std::string> Section(const ldns_rr_list* list);
  static std::vector<std::string> Rdata(const ldns_rr_list* list, ldns_rr_type type);
  ldns_pkt* pkt_;
  size_t wire_size_;
};

// Sends raw bytes, returns the raw answer (empty on timeout).
absl::StatusOr<std::string> Exchange(const std::string& host, uint16_t port,
                                     const std::string& query, const QueryOptions& options);

// Builds a query (RD set, random id) for `name`/`type` and sends it.
absl::StatusOr<std::unique_ptr<DnsReply>> Query(const std::string& host, uint16_t port,
                                                const std::string& name, ldns_rr_type type,
                                                const QueryOptions& options = {});

// Wire bytes of a query, for tests that then damage them.
std::string QueryWire(const std::string& name, ldns_rr_type type, bool edns = false,
                      uint16_t edns_size = 1232, uint16_t id = 0x1234);

}  // namespace svcdns::testing

#endif  // SVCDNS_TESTS_TESTING_DNS_CLIENT_H_
