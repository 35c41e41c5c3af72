#include "catalog/snapshot_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/protocol.h"

namespace svcdns::catalog {
namespace {

using dns::kClassIn;

// An IP literal in network byte order: 4 or 16 bytes, or empty.
std::string AddressBytes(absl::string_view address) {
  std::string z(address);
  unsigned char buf[16];
  if (inet_pton(AF_INET, z.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, z.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return {};
}

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}
void Put32(std::string* out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}

// Type, class, TTL, rdlength and rdata: a record without its owner.
std::string RecordTail(uint16_t type, uint32_t ttl, absl::string_view rdata) {
  std::string out;
  Put16(&out, type);
  Put16(&out, kClassIn);
  Put32(&out, ttl);
  Put16(&out, static_cast<uint16_t>(rdata.size()));
  out.append(rdata.data(), rdata.size());
  return out;
}

// Appends a record owned by the question name (pointer 0xC00C).
RecordRef AppendAnswer(AnswerSet* set, uint16_t type, uint32_t ttl,
                       absl::string_view rdata) {
  RecordRef ref{static_cast<uint32_t>(set->wire.size()), 0};
  Put16(&set->wire, dns::kQuestionPointer);
  set->wire += RecordTail(type, ttl, rdata);
  ref.size = static_cast<uint32_t>(set->wire.size()) - ref.offset;
  return ref;
}

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

// Wire form of labels joined: Labels({"web", "service", "dc1"}) + domain wire.
std::string JoinName(std::initializer_list<absl::string_view> labels,
                     absl::string_view domain_wire) {
  std::string out;
  for (absl::string_view label : labels) {
    out.push_back(static_cast<char>(label.size()));
    out.append(label.data(), label.size());
  }
  out.append(domain_wire.data(), domain_wire.size());
  return out;
}

std::string ReverseName(absl::string_view address_bytes) {
  std::string out;
  if (address_bytes.size() == 4) {
    for (int i = 3; i >= 0; --i) {
      std::string octet = absl::StrCat(static_cast<uint8_t>(address_bytes[i]));
      out.push_back(static_cast<char>(octet.size()));
      out += octet;
    }
    out += std::string("\7in-addr\4arpa\0", 14);
  } else {
    static const char kHex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {
      uint8_t b = static_cast<uint8_t>(address_bytes[i]);
      out += '\1';
      out += kHex[b & 0xF];
      out += '\1';
      out += kHex[b >> 4];
    }
    out += std::string("\3ip6\4arpa\0", 10);
  }
  return out;
}

Health Worse(Health a, Health b) { return a > b ? a : b; }

struct Instance {
  const Service* service;
  Health health;
  std::string address;     // bytes: 4 or 16
  std::string addr_hex;    // the service's own address as hex, if it has one
  absl::string_view target_labels[2];  // the SRV target's first two labels
  const std::string* dc;   // lowercase
};

std::string Key(KeyKind kind, std::initializer_list<absl::string_view> labels) {
  std::string key(1, static_cast<char>(kind));
  for (absl::string_view label : labels) {
    key.push_back(static_cast<char>(label.size()));
    key.append(label.data(), label.size());
  }
  return key;
}

// Everything a group's compiled answers depend on (the domains and the
// datacenter are fixed per builder and lookup key).
uint64_t Fingerprint(const std::vector<const Instance*>& members, uint32_t ttl) {
  uint64_t h = absl::Hash<std::pair<uint32_t, size_t>>{}({ttl, members.size()});
  for (const Instance* inst : members) {
    const Service& s = *inst->service;
    uint64_t x = absl::Hash<std::tuple<absl::string_view, uint16_t, uint32_t, uint32_t, int,
                                       absl::string_view, absl::string_view, absl::string_view>>{}(
        {s.id, s.port, s.weights.passing, s.weights.warning, static_cast<int>(inst->health),
         inst->address, inst->target_labels[0], inst->target_labels[1]});
    h = (h ^ x) * 0x100000001b3ULL + (h >> 29);
  }
  return h;
}

// Appends a record owned by the question name whose rdata is written by
// `rdata` into the wire; returns its place.
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

void AppendLabel(std::string* wire, absl::string_view label) {
  wire->push_back(static_cast<char>(label.size()));
  wire->append(label.data(), label.size());
}

// Compiles the answers for the healthy instances of one service (and tag).
std::shared_ptr<const AnswerSet> CompileService(
    std::vector<const Instance*> instances, absl::string_view dc,
    uint32_t ttl, const std::vector<DomainAnswers>& domains) {
  auto set = std::make_shared<AnswerSet>();
  std::string& wire = set->wire;
  wire.reserve(instances.size() * (32 + domains.size() * 96));
  // Same target adjacent (groups), then a stable order.
  std::sort(instances.begin(), instances.end(),
            [](const Instance* x, const Instance* y) {
              return std::tie(x->target_labels[0], x->target_labels[1], x->service->id) <
                     std::tie(y->target_labels[0], y->target_labels[1], y->service->id);
            });
  absl::flat_hash_set<absl::string_view> seen_addresses;
  seen_addresses.reserve(instances.size());
  for (const Instance* inst : instances) {
    if (!seen_addresses.insert(inst->address).second) continue;
    bool v4 = inst->address.size() == 4;
    RecordRef r = AppendRecord(&wire, v4 ? dns::kTypeA : dns::kTypeAaaa, ttl,
                               [&] { wire.append(inst->address); });
    (v4 ? set->a : set->aaaa).push_back(r);
  }
  for (size_t d = 0; d < domains.size(); ++d) {
    auto& records = set->srv[d];
    records.reserve(instances.size());
    size_t group_begin = 0;
    for (size_t i = 0; i < instances.size(); ++i) {
      const Instance* inst = instances[i];
      if (i > 0 && (inst->target_labels[0] != instances[i - 1]->target_labels[0] ||
                    inst->target_labels[1] != instances[i - 1]->target_labels[1])) {
        group_begin = i;
      }
      const Weights& w = inst->service->weights;
      size_t target_at = 0;
      SrvRecord srv{};
      srv.record = AppendRecord(&wire, dns::kTypeSrv, ttl, [&] {
        Put16(&wire, 1);  // priority
        Put16(&wire, static_cast<uint16_t>(std::min<uint32_t>(
                         65535, inst->health == Health::kPassing ? w.passing : w.warning)));
        Put16(&wire, inst->service->port);
        target_at = wire.size();
        AppendLabel(&wire, inst->target_labels[0]);
        AppendLabel(&wire, inst->target_labels[1]);
        AppendLabel(&wire, dc);
        wire.append(domains[d].name);
      });
      srv.target_offset = static_cast<uint16_t>(target_at - srv.record.offset);
      srv.target_size = static_cast<uint16_t>(srv.record.offset + srv.record.size - target_at);
      // The additional record: the target's address, owner left out.
      srv.additional.offset = static_cast<uint32_t>(wire.size());
      Put16(&wire, inst->address.size() == 4 ? dns::kTypeA : dns::kTypeAaaa);
      Put16(&wire, dns::kClassIn);
      Put32(&wire, ttl);
      Put16(&wire, static_cast<uint16_t>(inst->address.size()));
      wire.append(inst->address);
      srv.additional.size = static_cast<uint32_t>(wire.size()) - srv.additional.offset;
      srv.group_begin = static_cast<uint32_t>(group_begin);
      records.push_back(srv);
    }
    // Fill in group ends now that every group is known.
    for (size_t i = records.size(); i-- > 0;) {
      records[i].group_end = (i + 1 < records.size() &&
                              records[i + 1].group_begin == records[i].group_begin)
                                 ? records[i + 1].group_end
                                 : static_cast<uint32_t>(i + 1);
    }
  }
  wire.shrink_to_fit();
  return set;
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

absl::StatusOr<DomainAnswers> CompileDomain(absl::string_view domain,
                                            const SnapshotOptions& options,
                                            uint64_t serial) {
  auto wire = dns::EncodeName(Lower(domain));
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
  std::string soa = out.ns_host + JoinName({"hostmaster"}, out.name);
  Put32(&soa, static_cast<uint32_t>(serial));
  Put32(&soa, options.soa_refresh);
  Put32(&soa, options.soa_retry);
  Put32(&soa, options.soa_expire);
  Put32(&soa, options.soa_min_ttl);
  out.soa_tail = RecordTail(dns::kTypeSoa, options.soa_min_ttl, soa);
  out.ns_tail = RecordTail(dns::kTypeNs, options.soa_min_ttl, out.ns_host);
  return out;
}

}  // namespace

absl::StatusOr<ServiceTtlRule> ParseServiceTtlRule(absl::string_view text) {
  size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--service-ttl \"", text, "\": expected NAME=DURATION"));
  }
  ServiceTtlRule rule;
  rule.pattern = Lower(text.substr(0, eq));
  absl::string_view value = text.substr(eq + 1);
  uint32_t multiplier = 1;
  if (!value.empty() && (value.back() == 's' || value.back() == 'm' || value.back() == 'h')) {
    multiplier = value.back() == 's' ? 1 : value.back() == 'm' ? 60 : 3600;
    value.remove_suffix(1);
  }
  uint32_t n;
  if (!absl::SimpleAtoi(value, &n)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--service-ttl \"", text, "\": duration must be like 30s, 5m, 1h"));
  }
  rule.seconds = n * multiplier;
  return rule;
}

uint32_t ServiceTtl(const std::vector<ServiceTtlRule>& rules,
                    absl::string_view service) {
  const ServiceTtlRule* best = nullptr;
  size_t best_prefix = 0;
  for (const ServiceTtlRule& rule : rules) {
    if (rule.pattern == service) return rule.seconds;
    if (!rule.pattern.empty() && rule.pattern.back() == '*') {
      absl::string_view prefix(rule.pattern.data(), rule.pattern.size() - 1);
      if (absl::StartsWith(service, prefix) && (best == nullptr || prefix.size() >= best_prefix)) {
        best = &rule;
        best_prefix = prefix.size();
      }
    }
  }
  return best != nullptr ? best->seconds : 0;
}

std::string AddressToHex(absl::string_view address) {
  std::string bytes = AddressBytes(address);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(
    const Catalog& catalog, const SnapshotOptions& options) {
  SnapshotBuilder builder(options);
  return builder.Build(catalog);
}

absl::StatusOr<std::unique_ptr<Snapshot>> SnapshotBuilder::Build(const Catalog& catalog) {
  const SnapshotOptions& options = options_;
  ++generation_;
  compiled_ = reused_ = 0;
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->index = catalog.index;
  snapshot->local_datacenter = Lower(options.datacenter);
  snapshot->node_ttl = options.node_ttl;
  for (absl::string_view domain : {absl::string_view(options.domain),
                                   absl::string_view(options.alt_domain)}) {
    if (domain.empty()) continue;
    auto compiled = CompileDomain(domain, options, catalog.index);
    if (!compiled.ok()) return compiled.status();
    snapshot->domains.push_back(*std::move(compiled));
  }
  std::string ns_address = AddressBytes(options.advertise);
  if (ns_address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "advertise address \"", options.advertise, "\" is not an IP literal"));
  }
  snapshot->ns_address_type = ns_address.size() == 4 ? dns::kTypeA : dns::kTypeAaaa;
  snapshot->ns_address_tail =
      RecordTail(snapshot->ns_address_type, options.node_ttl, ns_address);
  snapshot->AddMarker(Key(KeyKind::kDatacenter, {snapshot->local_datacenter}));

  // Healthy instances by (datacenter, service) and by (datacenter, service, tag).
  std::vector<Instance> instances;
  size_t total = 0;
  for (const NodeState& state : catalog.nodes) total += state.services.size();
  instances.reserve(total);

  // Reverse names -> their PTR targets; datacenters (lowercase), stable.
  absl::flat_hash_map<std::string, std::vector<std::string>> reverse;
  std::deque<std::string> datacenters;
  absl::flat_hash_map<std::string, const std::string*> datacenter_of;
  const std::string& primary = snapshot->domains[0].name;
  for (const NodeState& state : catalog.nodes) {
    if (state.status == NodeStatus::kLeft) continue;
    const Node& node = state.node;
    std::string dc_text = Lower(node.datacenter.empty() ? options.datacenter : node.datacenter);
    auto [dc_it, new_dc] = datacenter_of.try_emplace(dc_text, nullptr);
    if (new_dc) {
      dc_it->second = &datacenters.emplace_back(dc_text);
      snapshot->AddMarker(Key(KeyKind::kDatacenter, {dc_text}));
    }
    const std::string& dc = *dc_it->second;
    std::string node_address = AddressBytes(node.address);

    // The node's own records: A or AAAA, and TXT with its meta.
    auto node_set = std::make_shared<AnswerSet>();
    if (node_address.size() == 4) {
      node_set->a.push_back(AppendAnswer(node_set.get(), dns::kTypeA, options.node_ttl, node_address));
    } else if (node_address.size() == 16) {
      node_set->aaaa.push_back(AppendAnswer(node_set.get(), dns::kTypeAaaa, options.node_ttl, node_address));
    }
    for (const auto& [key, value] : node.meta) {
      node_set->txt.push_back(AppendAnswer(node_set.get(), dns::kTypeTxt, options.node_ttl,
                                           TxtRdata(absl::StrCat(key, "=", value))));
    }
    snapshot->Add(Key(KeyKind::kNode, {dc, Lower(node.name)}), std::move(node_set));
    if (!node_address.empty()) {
      reverse[ReverseName(node_address)].push_back(JoinName({node.name, "node", dc}, primary));
    }

    Health node_health = Health::kPassing;
    absl::flat_hash_map<absl::string_view, Health> service_health;
    for (const Check& check : state.checks) {
      if (check.service_id.empty()) {
        node_health = Worse(node_health, check.status);
      } else {
        auto [it, inserted] = service_health.try_emplace(check.service_id, check.status);
        if (!inserted) it->second = Worse(it->second, check.status);
      }
    }
    if (state.status == NodeStatus::kFailed) node_health = Health::kCritical;
    for (const Service& service : state.services) {
      for (const std::string& tag : service.tags) {
        snapshot->AddMarker(Key(KeyKind::kTag, {dc, Lower(tag)}));
      }
      std::string address = service.address.empty() ? node_address : AddressBytes(service.address);
      if (address.empty()) continue;
      if (!service.address.empty()) {
        reverse[ReverseName(address)].push_back(JoinName({service.name, "service", dc}, primary));
      }
      Health health = node_health;
      if (auto it = service_health.find(service.id); it != service_health.end()) {
        health = Worse(health, it->second);
      }
      if (health == Health::kCritical) continue;
      if (health == Health::kWarning && options.only_passing) continue;
      Instance& inst = instances.emplace_back();
      inst.service = &service;
      inst.health = health;
      inst.address = std::move(address);
      inst.dc = &dc;
      if (service.address.empty()) {
        inst.target_labels[0] = node.name;
        inst.target_labels[1] = "node";
      } else {
        inst.addr_hex = AddressToHex(service.address);
        inst.target_labels[0] = inst.addr_hex;  // fixed below: the vector may move
        inst.target_labels[1] = "addr";
      }
    }
  }
  // Instances are in place now: point the addr labels at their own strings.
  for (Instance& inst : instances) {
    if (!inst.addr_hex.empty()) inst.target_labels[0] = inst.addr_hex;
  }
  snapshot->instance_count = instances.size();

  // Group by lookup key: (dc, service) and (dc, service, tag).
  struct Group {
    const std::string* dc;
    std::string name;
    std::vector<const Instance*> members;
  };
  absl::flat_hash_map<std::string, Group> groups;
  groups.reserve(instances.size());
  std::vector<std::string> tags;
  for (const Instance& inst : instances) {
    std::string name = Lower(inst.service->name);
    auto add = [&](absl::string_view tag) {
      auto [it, fresh] = groups.try_emplace(Key(KeyKind::kService, {*inst.dc, name, tag}));
      if (fresh) {
        it->second.dc = inst.dc;
        it->second.name = name;
      }
      it->second.members.push_back(&inst);
    };
    add("");
    tags.clear();
    for (const std::string& tag : inst.service->tags) {
      std::string lower = Lower(tag);
      if (lower.empty() || lower.size() > dns::kMaxLabelLength) continue;
      if (std::find(tags.begin(), tags.end(), lower) != tags.end()) continue;
      add(lower);
      tags.push_back(std::move(lower));
    }
  }
  snapshot->Reserve(groups.size() + catalog.nodes.size() + reverse.size());
  for (auto& [key, group] : groups) {
    uint32_t ttl = ServiceTtl(options.service_ttls, group.name);
    uint64_t fingerprint = Fingerprint(group.members, ttl);
    Cached& cached = cache_[key];
    if (cached.answers == nullptr || cached.fingerprint != fingerprint) {
      cached.answers = CompileService(std::move(group.members), *group.dc, ttl, snapshot->domains);
      cached.fingerprint = fingerprint;
      ++compiled_;
    } else {
      ++reused_;
    }
    cached.generation = generation_;
    snapshot->Add(key, cached.answers);
  }
  // Forget the answers of groups that are gone.
  absl::erase_if(cache_, [&](const auto& entry) { return entry.second.generation != generation_; });
  for (auto& [name, targets] : reverse) {
    std::sort(targets.begin(), targets.end());
    targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
    auto set = std::make_shared<AnswerSet>();
    for (const std::string& target : targets) {
      set->ptr.push_back(AppendAnswer(set.get(), dns::kTypePtr, options.node_ttl, target));
    }
    std::string key(1, static_cast<char>(KeyKind::kReverse));
    key += name;
    snapshot->Add(std::move(key), std::move(set));
  }
  return snapshot;
}

}  // namespace svcdns::catalog
