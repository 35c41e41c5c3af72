#include "catalog/snapshot_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "catalog/answer_compiler.h"
#include "dns/protocol.h"

namespace svcdns::catalog {
namespace {

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

std::string Key(KeyKind kind, std::initializer_list<absl::string_view> labels) {
  std::string key(1, static_cast<char>(kind));
  for (absl::string_view label : labels) {
    key.push_back(static_cast<char>(label.size()));
    key.append(label.data(), label.size());
  }
  return key;
}

Health Worse(Health a, Health b) { return a > b ? a : b; }

// Parses an IP literal into `out` without allocating; its size (4 or 16), or 0.
size_t ParseAddress(const std::string& text, char out[16]) {
  if (inet_pton(AF_INET, text.c_str(), out) == 1) return 4;
  if (inet_pton(AF_INET6, text.c_str(), out) == 1) return 16;
  return 0;
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


absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(
    const Catalog& catalog, const SnapshotOptions& options) {
  SnapshotBuilder builder(options);
  return builder.Build(catalog);
}

SnapshotBuilder::SnapshotBuilder(SnapshotOptions options)
    : options_(std::move(options)), local_dc_(Lower(options_.datacenter)) {
  auto primary = CompileDomain(options_.domain, {}, 0);
  if (primary.ok()) {
    primary_ = primary->name;
  } else {
    options_status_ = primary.status();
  }
  if (options_status_.ok() && AddressBytes(options_.advertise).empty()) {
    options_status_ = absl::InvalidArgumentError(absl::StrCat(
        "advertise address \"", options_.advertise, "\" is not an IP literal"));
  }
  Mark(Key(KeyKind::kDatacenter, {local_dc_}), +1);  // the server's own always exists
}

SnapshotBuilder::~SnapshotBuilder() = default;

void SnapshotBuilder::SetNode(const NodeKey& key, std::shared_ptr<const NodeState> state) {
  pending_.insert_or_assign(key, std::move(state));
}

absl::StatusOr<std::unique_ptr<Snapshot>> SnapshotBuilder::Build(const Catalog& catalog) {
  absl::flat_hash_set<NodeKey> present;
  present.reserve(catalog.nodes.size());
  for (const NodeState& state : catalog.nodes) {
    NodeKey key = KeyOfNode(state.node, local_dc_);
    auto it = nodes_.find(key);
    if (it == nodes_.end() || *it->second != state) {
      SetNode(key, std::make_shared<const NodeState>(state));
    }
    present.insert(std::move(key));
  }
  for (const auto& [key, state] : nodes_) {
    if (!present.contains(key)) SetNode(key, nullptr);
  }
  return Build(catalog.index);
}

absl::StatusOr<std::unique_ptr<Snapshot>> SnapshotBuilder::Build(uint64_t index) {
  if (!options_status_.ok()) return options_status_;
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->index = index;
  snapshot->local_datacenter = local_dc_;
  snapshot->node_ttl = options_.node_ttl;
  SoaTimers soa{options_.soa_refresh, options_.soa_retry, options_.soa_expire,
                options_.soa_min_ttl};
  for (absl::string_view domain : {absl::string_view(options_.domain),
                                   absl::string_view(options_.alt_domain)}) {
    if (domain.empty()) continue;
    auto compiled = CompileDomain(domain, soa, index);
    if (!compiled.ok()) return compiled.status();
    snapshot->domains.push_back(*std::move(compiled));
  }
  std::string ns_address = AddressBytes(options_.advertise);
  snapshot->ns_address_type = ns_address.size() == 4 ? dns::kTypeA : dns::kTypeAaaa;
  snapshot->ns_address_tail =
      RecordTail(snapshot->ns_address_type, options_.node_ttl, ns_address);

  domains_ = snapshot->domains;
  for (auto& [key, state] : pending_) {
    auto it = nodes_.find(key);
    if (it != nodes_.end()) Contribute(*it->second, -1);
    if (state != nullptr) Contribute(*state, +1);
    dirty_nodes_.insert(key);
    if (state != nullptr) {
      nodes_.insert_or_assign(key, std::move(state));
    } else if (it != nodes_.end()) {
      nodes_.erase(it);
    }
  }
  pending_.clear();
  CompileDirty();
  snapshot->instance_count = instance_count_;
  snapshot->answers = answers_;
  return snapshot;
}

void SnapshotBuilder::Contribute(const NodeState& state, int sign) {
  if (state.status == NodeStatus::kLeft) return;  // left nodes are not served
  const Node& node = state.node;
  std::string dc = Lower(node.datacenter.empty() ? options_.datacenter : node.datacenter);
  Mark(Key(KeyKind::kDatacenter, {dc}), sign);
  char node_address[16];
  size_t node_address_size = ParseAddress(node.address, node_address);
  if (node_address_size != 0) {
    Reverse(Key(KeyKind::kReverse, {}) +
                ReverseName(absl::string_view(node_address, node_address_size)),
            JoinName({node.name, "node", dc}, primary_), sign);
  }

  Health node_health = state.status == NodeStatus::kFailed ? Health::kCritical : Health::kPassing;
  absl::flat_hash_map<absl::string_view, Health> service_health;
  for (const Check& check : state.checks) {
    if (check.service_id.empty()) {
      node_health = Worse(node_health, check.status);
    } else {
      auto [it, inserted] = service_health.try_emplace(check.service_id, check.status);
      if (!inserted) it->second = Worse(it->second, check.status);
    }
  }
  std::vector<std::string> tags;
  for (uint32_t i = 0; i < state.services.size(); ++i) {
    const Service& service = state.services[i];
    for (const std::string& tag : service.tags) Mark(Key(KeyKind::kTag, {dc, Lower(tag)}), sign);
    char address[16];
    size_t address_size = service.address.empty() ? node_address_size
                                                   : ParseAddress(service.address, address);
    if (address_size == 0) continue;
    if (!service.address.empty()) {
      Reverse(Key(KeyKind::kReverse, {}) +
                  ReverseName(absl::string_view(address, address_size)),
              JoinName({service.name, "service", dc}, primary_), sign);
    }
    Health health = node_health;
    if (auto it = service_health.find(service.id); it != service_health.end()) {
      health = Worse(health, it->second);
    }
    if (health == Health::kCritical) continue;
    if (health == Health::kWarning && options_.only_passing) continue;
    instance_count_ += sign;
    std::string name = Lower(service.name);
    Member member{&state, i, health};
    Join(Key(KeyKind::kService, {dc, name, ""}), dc, name, member, sign);
    tags.clear();
    for (const std::string& tag : service.tags) {
      std::string lower = Lower(tag);
      if (lower.empty() || lower.size() > dns::kMaxLabelLength) continue;
      if (std::find(tags.begin(), tags.end(), lower) != tags.end()) continue;
      Join(Key(KeyKind::kService, {dc, name, lower}), dc, name, member, sign);
      tags.push_back(std::move(lower));
    }
  }
}

void SnapshotBuilder::Mark(std::string key, int sign) {
  if (sign > 0) {
    auto [it, inserted] = markers_.try_emplace(key, 0);
    if (it->second++ == 0) dirty_.insert(std::move(key));
    return;
  }
  auto it = markers_.find(key);
  if (it != markers_.end() && --it->second == 0) {
    markers_.erase(it);
    dirty_.insert(std::move(key));
  }
}

void SnapshotBuilder::Reverse(std::string key, std::string target, int sign) {
  if (sign > 0) {
    reverse_[key].push_back(std::move(target));
  } else {
    auto it = reverse_.find(key);
    if (it == reverse_.end()) return;
    auto& targets = it->second;
    if (auto t = std::find(targets.begin(), targets.end(), target); t != targets.end()) {
      targets.erase(t);
    }
    if (targets.empty()) reverse_.erase(it);
  }
  dirty_.insert(std::move(key));
}

void SnapshotBuilder::Join(std::string key, const std::string& dc, const std::string& name,
                           Member member, int sign) {
  if (sign > 0) {
    auto [it, inserted] = groups_.try_emplace(key);
    if (inserted) {
      it->second.dc = dc;
      it->second.name = name;
    }
    it->second.members.push_back(member);
  } else {
    auto it = groups_.find(key);
    if (it == groups_.end()) return;
    std::erase_if(it->second.members, [&](const Member& m) {
      return m.state == member.state && m.service == member.service;
    });
    if (it->second.members.empty()) groups_.erase(it);
  }
  dirty_.insert(std::move(key));
}

void SnapshotBuilder::CompileDirty() {
  compiled_ = 0;
  struct Scratch {
    char address[16];
    char hex[32];
  };
  std::vector<ServiceInstance> instances;
  std::vector<Scratch> scratch;
  for (const std::string& key : dirty_) {
    switch (static_cast<KeyKind>(key[0])) {
      case KeyKind::kService: {
        auto it = groups_.find(key);
        if (it == groups_.end()) {
          answers_.Erase(key);
          continue;
        }
        const Group& group = it->second;
        instances.clear();
        scratch.resize(group.members.size());
        for (size_t i = 0; i < group.members.size(); ++i) {
          const Member& m = group.members[i];
          const Service& service = m.state->services[m.service];
          Scratch& s = scratch[i];
          ServiceInstance& inst = instances.emplace_back();
          inst.service = &service;
          inst.health = m.health;
          if (service.address.empty()) {
            inst.address = {s.address, ParseAddress(m.state->node.address, s.address)};
            inst.target_labels[0] = m.state->node.name;
            inst.target_labels[1] = "node";
          } else {
            inst.address = {s.address, ParseAddress(service.address, s.address)};
            static const char kHex[] = "0123456789abcdef";
            for (size_t b = 0; b < inst.address.size(); ++b) {
              s.hex[2 * b] = kHex[static_cast<uint8_t>(s.address[b]) >> 4];
              s.hex[2 * b + 1] = kHex[static_cast<uint8_t>(s.address[b]) & 0xF];
            }
            inst.target_labels[0] = absl::string_view(s.hex, 2 * inst.address.size());
            inst.target_labels[1] = "addr";
          }
        }
        answers_.Set(key, CompileService(absl::MakeSpan(instances), group.dc,
                                         ServiceTtl(options_.service_ttls, group.name), domains_));
        ++compiled_;
        break;
      }
      case KeyKind::kReverse: {
        auto it = reverse_.find(key);
        if (it == reverse_.end()) {
          answers_.Erase(key);
        } else {
          answers_.Set(key, CompileReverse(it->second, options_.node_ttl));
          ++compiled_;
        }
        break;
      }
      default:  // markers
        if (markers_.contains(key)) {
          answers_.Set(key, nullptr);
        } else {
          answers_.Erase(key);
        }
    }
  }
  dirty_.clear();
  for (const NodeKey& node_key : dirty_nodes_) {
    std::string key = Key(KeyKind::kNode, {node_key.first, node_key.second});
    auto it = nodes_.find(node_key);
    if (it == nodes_.end() || it->second->status == NodeStatus::kLeft) {
      answers_.Erase(key);
    } else {
      answers_.Set(std::move(key), CompileNode(it->second->node, options_.node_ttl));
      ++compiled_;
    }
  }
  dirty_nodes_.clear();
}

}  // namespace svcdns::catalog
