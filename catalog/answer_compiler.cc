#include "catalog/answer_compiler.h"

#include <arpa/inet.h>

#include <algorithm>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/protocol.h"

namespace svcdns::catalog {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}
void Put32(std::string* out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}

void AppendLabel(std::string* wire, absl::string_view label) {
  wire->push_back(static_cast<char>(label.size()));
  wire->append(label.data(), label.size());
}

// Appends a record owned by the question name (pointer 0xC00C) whose rdata
// `rdata()` writes into the wire; returns its place.
template <typename WriteRdata>
RecordRef AppendRecord(std::string* wire, uint16_t type, uint32_t ttl, WriteRdata rdata) {
  RecordRef ref{static_cast<uint32_t>(wire->size()), 0};
  Put16(wire, dns::kQuestionPointer);
  Put16(wire, type);
  Put16(wire, dns::kClassIn);
  Put32(wire, ttl);
  size_t rdlength_at = wire->size();
  Put16(wire, 0);
  rdata();
  size_t rdlength = wire->size() - rdlength_at - 2;
  (*wire)[rdlength_at] = static_cast<char>(rdlength >> 8);
  (*wire)[rdlength_at + 1] = static_cast<char>(rdlength);
  ref.size = static_cast<uint32_t>(wire->size()) - ref.offset;
  return ref;
}

RecordRef AppendAnswer(AnswerDraft* set, uint16_t type, uint32_t ttl, absl::string_view rdata) {
  return AppendRecord(&set->wire, type, ttl, [&] { set->wire.append(rdata.data(), rdata.size()); });
}

// The draft every compilation writes into: its buffers are kept, so a large
// build allocates once per AnswerSet.
AnswerDraft& Draft() {
  thread_local AnswerDraft draft;
  draft.Clear();
  return draft;
}

// Sets each record's group_end, once every group_begin is known.
void CloseGroups(std::vector<SrvRecord>& records) {
  for (size_t i = records.size(); i-- > 0;) {
    records[i].group_end = (i + 1 < records.size() &&
                            records[i + 1].group_begin == records[i].group_begin)
                               ? records[i + 1].group_end
                               : static_cast<uint32_t>(i + 1);
  }
}

// TXT rdata: "key=value", split into 255-byte character-strings.
std::string TxtRdata(absl::string_view text) {
  std::string rdata;
  do {
    absl::string_view chunk = text.substr(0, 255);
    rdata.push_back(static_cast<char>(chunk.size()));
    rdata.append(chunk.data(), chunk.size());
    text.remove_prefix(chunk.size());
  } while (!text.empty());
  return rdata;
}

uint16_t AddressType(absl::string_view address) {
  return address.size() == 4 ? dns::kTypeA : dns::kTypeAaaa;
}

}  // namespace

size_t ParseAddress(const std::string& text, char out[16]) {
  if (inet_pton(AF_INET, text.c_str(), out) == 1) return 4;
  if (inet_pton(AF_INET6, text.c_str(), out) == 1) return 16;
  return 0;
}

std::string AddressBytes(absl::string_view address) {
  char buf[16];
  return std::string(buf, ParseAddress(std::string(address), buf));
}

absl::string_view HexLabel(absl::string_view bytes, char* out) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHex[static_cast<uint8_t>(bytes[i]) >> 4];
    out[2 * i + 1] = kHex[static_cast<uint8_t>(bytes[i]) & 0xF];
  }
  return {out, 2 * bytes.size()};
}

std::string ReverseName(absl::string_view address_bytes) {
  std::string out;
  if (address_bytes.size() == 4) {
    for (int i = 3; i >= 0; --i) {
      AppendLabel(&out, absl::StrCat(static_cast<uint8_t>(address_bytes[i])));
    }
    out.append("\7in-addr\4arpa\0", 14);
  } else {
    for (int i = 15; i >= 0; --i) {
      uint8_t b = static_cast<uint8_t>(address_bytes[i]);
      out += '\1';
      out += kHex[b & 0xF];
      out += '\1';
      out += kHex[b >> 4];
    }
    out.append("\3ip6\4arpa\0", 10);
  }
  return out;
}

std::string JoinName(std::initializer_list<absl::string_view> labels,
                     absl::string_view domain_wire) {
  std::string out;
  for (absl::string_view label : labels) AppendLabel(&out, label);
  out.append(domain_wire.data(), domain_wire.size());
  return out;
}

std::string RecordTail(uint16_t type, uint32_t ttl, absl::string_view rdata) {
  std::string out;
  Put16(&out, type);
  Put16(&out, dns::kClassIn);
  Put32(&out, ttl);
  Put16(&out, static_cast<uint16_t>(rdata.size()));
  out.append(rdata.data(), rdata.size());
  return out;
}

AnswerSetRef CompileService(absl::string_view key, absl::Span<ServiceInstance> instances,
                            absl::string_view dc, uint32_t ttl,
                            const std::vector<DomainAnswers>& domains,
                            std::vector<uint32_t>* address_records) {
  AnswerDraft* set = &Draft();
  std::string& wire = set->wire;
  // Same target adjacent (groups), then a stable order.
  std::sort(instances.begin(), instances.end(), [](const auto& x, const auto& y) {
    return std::tie(x.target_labels[0], x.target_labels[1], x.service->id) <
           std::tie(y.target_labels[0], y.target_labels[1], y.service->id);
  });
  // One A/AAAA per distinct address, in that order. (Scratch space is
  // reused: a from-scratch build compiles a million of these.)
  struct Distinct {
    absl::string_view address;
    uint32_t record;  // in a() or aaaa(); kNone until written
  };
  constexpr uint32_t kNone = ~uint32_t{0};
  thread_local std::vector<Distinct> distinct;
  distinct.clear();
  for (const ServiceInstance& inst : instances) distinct.push_back({inst.address, kNone});
  auto by_address = [](const Distinct& x, const Distinct& y) { return x.address < y.address; };
  std::sort(distinct.begin(), distinct.end(), by_address);
  distinct.erase(std::unique(distinct.begin(), distinct.end(),
                             [](const Distinct& x, const Distinct& y) { return x.address == y.address; }),
                 distinct.end());
  if (address_records != nullptr) address_records->clear();
  for (const ServiceInstance& inst : instances) {
    absl::string_view address = inst.address;
    auto it = std::lower_bound(distinct.begin(), distinct.end(), Distinct{address, 0}, by_address);
    if (it->record == kNone) {
      auto& records = address.size() == 4 ? set->a : set->aaaa;
      it->record = static_cast<uint32_t>(records.size());
      records.push_back(AppendRecord(&wire, AddressType(address), ttl,
                                     [&] { wire.append(address.data(), address.size()); }));
    }
    if (address_records != nullptr) address_records->push_back(it->record);
  }
  for (size_t d = 0; d < domains.size(); ++d) {
    auto& records = set->srv[d];
    records.reserve(instances.size());
    size_t group_begin = 0;
    for (size_t i = 0; i < instances.size(); ++i) {
      const ServiceInstance& inst = instances[i];
      if (i > 0 && (inst.target_labels[0] != instances[i - 1].target_labels[0] ||
                    inst.target_labels[1] != instances[i - 1].target_labels[1])) {
        group_begin = i;
      }
      const Weights& w = inst.service->weights;
      size_t target_at = 0;
      RecordRef record = AppendRecord(&wire, dns::kTypeSrv, ttl, [&] {
        Put16(&wire, 1);  // priority
        Put16(&wire, static_cast<uint16_t>(std::min<uint32_t>(
                         65535, inst.health == Health::kPassing ? w.passing : w.warning)));
        Put16(&wire, inst.service->port);
        target_at = wire.size();
        AppendLabel(&wire, inst.target_labels[0]);
        AppendLabel(&wire, inst.target_labels[1]);
        AppendLabel(&wire, dc);
        wire.append(domains[d].name);
      });
      // The additional record follows: the target's address, owner left out.
      size_t additional_at = wire.size();
      Put16(&wire, AddressType(inst.address));
      Put16(&wire, dns::kClassIn);
      Put32(&wire, ttl);
      Put16(&wire, static_cast<uint16_t>(inst.address.size()));
      wire.append(inst.address.data(), inst.address.size());
      SrvRecord srv{};
      srv.offset = record.offset;
      srv.size = static_cast<uint16_t>(record.size);
      srv.target_offset = static_cast<uint8_t>(target_at - record.offset);
      srv.additional_size = static_cast<uint8_t>(wire.size() - additional_at);
      srv.group_begin = static_cast<uint32_t>(group_begin);
      records.push_back(srv);
    }
    CloseGroups(records);
  }
  return AnswerSet::Create(key, *set);
}

AnswerSetRef CompileSubset(absl::string_view key, const AnswerSetRef& parent,
                           absl::Span<const ServiceInstance> instances,
                           absl::Span<const uint32_t> address_records,
                           absl::Span<const uint32_t> subset) {
  AnswerDraft* set = &Draft();
  // Addresses in the order they first appear in the subset, as
  // CompileService would write them for these instances alone.
  thread_local std::vector<bool> written[2];  // by a() / aaaa() index
  written[0].assign(parent->a().size(), false);
  written[1].assign(parent->aaaa().size(), false);
  for (uint32_t i : subset) {
    bool v6 = instances[i].address.size() == 16;
    uint32_t record = address_records[i];
    if (written[v6][record]) continue;
    written[v6][record] = true;
    (v6 ? set->aaaa : set->a).push_back((v6 ? parent->aaaa() : parent->a())[record]);
  }
  for (size_t d = 0; d < kMaxDomains; ++d) {
    absl::Span<const SrvRecord> all = parent->srv(d);
    if (all.empty()) continue;
    auto& records = set->srv[d];
    records.reserve(subset.size());
    for (size_t k = 0; k < subset.size(); ++k) {
      SrvRecord srv = all[subset[k]];
      // The parent's groups are whole runs of one target: two instances of
      // the subset share a target exactly when they shared a group there.
      bool same_target = k > 0 && all[subset[k - 1]].group_begin == srv.group_begin;
      srv.group_begin = same_target ? records.back().group_begin : static_cast<uint32_t>(k);
      records.push_back(srv);
    }
    CloseGroups(records);
  }
  return AnswerSet::View(key, *set, parent);
}

AnswerSetRef CompileNode(absl::string_view key, const Node& node, uint32_t ttl) {
  AnswerDraft* set = &Draft();
  std::string address = AddressBytes(node.address);
  if (!address.empty()) {
    (address.size() == 4 ? set->a : set->aaaa)
        .push_back(AppendAnswer(set, AddressType(address), ttl, address));
  }
  for (const auto& [name, value] : node.meta) {
    set->txt.push_back(
        AppendAnswer(set, dns::kTypeTxt, ttl, TxtRdata(absl::StrCat(name, "=", value))));
  }
  return AnswerSet::Create(key, *set);
}

AnswerSetRef CompileReverse(absl::string_view key, std::vector<std::string> targets,
                            uint32_t ttl) {
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  AnswerDraft* set = &Draft();
  for (const std::string& target : targets) {
    set->ptr.push_back(AppendAnswer(set, dns::kTypePtr, ttl, target));
  }
  return AnswerSet::Create(key, *set);
}

absl::StatusOr<DomainAnswers> CompileDomain(absl::string_view domain, SoaTimers soa,
                                            uint64_t serial) {
  auto wire = dns::EncodeName(absl::AsciiStrToLower(domain));
  if (!wire.ok() || *wire == std::string(1, '\0')) {
    return absl::InvalidArgumentError(
        absl::StrCat("domain \"", domain, "\" is not a domain name"));
  }
  DomainAnswers out;
  out.name = *wire;
  for (size_t i = 0; out.name[i] != 0; i += static_cast<uint8_t>(out.name[i]) + 1) {
    ++out.label_count;
  }
  out.ns_host = JoinName({"ns"}, out.name);
  std::string rdata = out.ns_host + JoinName({"hostmaster"}, out.name);
  Put32(&rdata, static_cast<uint32_t>(serial));
  Put32(&rdata, soa.refresh);
  Put32(&rdata, soa.retry);
  Put32(&rdata, soa.expire);
  Put32(&rdata, soa.min_ttl);
  out.soa_tail = RecordTail(dns::kTypeSoa, soa.min_ttl, rdata);
  out.ns_tail = RecordTail(dns::kTypeNs, soa.min_ttl, out.ns_host);
  return out;
}

}  // namespace svcdns::catalog
