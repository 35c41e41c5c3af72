#include "catalog/snapshot_builder.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/parallel.h"
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

// Calls f with each label of a list of labels in wire form.
template <typename F>
void ForEachLabel(absl::string_view labels, F f) {
  for (size_t at = 0; at < labels.size(); at += 1 + static_cast<uint8_t>(labels[at])) {
    f(labels.substr(at + 1, static_cast<uint8_t>(labels[at])));
  }
}

bool Contains(const std::vector<uint32_t>& sorted, uint32_t place) {
  return std::binary_search(sorted.begin(), sorted.end(), place);
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
    if (it == nodes_.end() || *it->second.state != state) {
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

  domains_ = snapshot->domains;  // SRV targets name them
  if (nodes_.empty()) {
    // A first build: size the tables once. Groups: at most one per
    // service. Answer keys: a service, about two tags each, a node and its
    // reverse name.
    size_t services = 0;
    for (const auto& [key, state] : pending_) services += state ? state->services.size() : 0;
    groups_.reserve(services);
    answers_.Reserve(3 * services + 2 * pending_.size());
  }
  for (auto& [key, state] : pending_) {
    auto it = nodes_.find(key);
    if (it == nodes_.end()) {
      if (state == nullptr) continue;
      Health health = NodeHealth(*state);
      it = nodes_.try_emplace(key, NodeSlot{std::move(state), health}).first;
      Contribute(it->second, kAdd);
      dirty_nodes_.insert(key);
    } else if (state == nullptr) {
      Contribute(it->second, kRemove);
      dirty_nodes_.insert(key);
      nodes_.erase(it);
    } else {
      Update(it->second, std::move(state), key);
    }
  }
  pending_.clear();
  CompileDirty();
  snapshot->instance_count = instance_count_;
  snapshot->answers = answers_.Freeze();
  return snapshot;
}

Health SnapshotBuilder::NodeHealth(const NodeState& state) {
  Health health = state.status == NodeStatus::kFailed ? Health::kCritical : Health::kPassing;
  for (const Check& check : state.checks) {
    if (check.service_id.empty()) health = Worse(health, check.status);
  }
  return health;
}

SnapshotBuilder::NodeContext SnapshotBuilder::Context(const NodeState& state,
                                                      Health node_health) const {
  NodeContext c;
  c.state = &state;
  const Node& node = state.node;
  c.dc = Lower(node.datacenter.empty() ? options_.datacenter : node.datacenter);
  c.address_size = ParseAddress(node.address, c.address);
  c.health = node_health;
  return c;
}

Health SnapshotBuilder::NodeContext::OfId(absl::string_view id) const {
  Health worst = health;
  if (auto it = index->checks_of.find(id); it != index->checks_of.end()) {
    for (uint32_t i : it->second) worst = Worse(worst, state->checks[i]->status);
  }
  return worst;
}

Health SnapshotBuilder::NodeContext::Of(const Service& service) const {
  if (index != nullptr) return OfId(service.id);
  // (A node of a few services is cheaper to scan than to index.)
  constexpr int kScansBeforeIndex = 8;
  if (!indexed_ && ++scans_ <= kScansBeforeIndex) {
    Health worst = health;
    for (const Check& check : state->checks) {
      if (check.service_id == service.id) worst = Worse(worst, check.status);
    }
    return worst;
  }
  if (!indexed_) {
    for (const Check& check : state->checks) {
      if (check.service_id.empty()) continue;
      auto [it, inserted] = service_health_.try_emplace(check.service_id, check.status);
      if (!inserted) it->second = Worse(it->second, check.status);
    }
    indexed_ = true;
  }
  auto it = service_health_.find(service.id);
  return it == service_health_.end() ? health : Worse(health, it->second);
}

void SnapshotBuilder::Contribute(const NodeSlot& slot, Op op) {
  const NodeState& state = *slot.state;
  if (state.status == NodeStatus::kLeft) return;  // left nodes are not served
  NodeContext c = Context(state, slot.health);
  c.index = slot.index.get();
  int sign = op == kAdd ? +1 : -1;
  Mark(Key(KeyKind::kDatacenter, {c.dc}), sign);
  if (c.address_size != 0) {
    Reverse(Key(KeyKind::kReverse, {}) + ReverseName(absl::string_view(c.address, c.address_size)),
            JoinName({state.node.name, "node", c.dc}, primary_), sign);
  }
  // A first build walks a million services in an order memory does not
  // like: each service, and its group, is asked for a few services ahead.
  const auto& services = state.services;
  for (uint32_t i = 0; i < services.size(); ++i) {
    if (i + 4 < services.size()) __builtin_prefetch(&*services[i + 4]);
    if (i + 2 < services.size()) __builtin_prefetch(services[i + 2]->tags.data());
    if (i + 1 < services.size()) groups_.prefetch(GroupKey(c, services[i + 1], prefetch_key_));
    ContributeService(slot, c, i, op);
  }
}

void SnapshotBuilder::Update(NodeSlot& slot, std::shared_ptr<const NodeState> next,
                             const NodeKey& key) {
  // Removals read the state the members were made from, still in the slot;
  // `previous` keeps it alive once the slot moves on.
  std::shared_ptr<const NodeState> previous = slot.state;
  const NodeState& before = *previous;
  const NodeState& after = *next;
  if (slot.index == nullptr) slot.index = std::make_unique<NodeIndex>(before);
  NodeIndex& index = *slot.index;
  std::vector<uint32_t> changed_services = ChangedPlaces(before.services, after.services);
  std::vector<uint32_t> changed_checks = ChangedPlaces(before.checks, after.checks);
  // A service's health can differ only if one of its checks changed: the
  // ids of those services, sorted. The node's own health only if one of
  // its own checks (no service id, sorted first) is among them, or its
  // status changed.
  std::vector<absl::string_view> rechecked;
  for (uint32_t i : changed_checks) {
    if (i < before.checks.size()) rechecked.push_back(before.checks[i]->service_id);
    if (i < after.checks.size()) rechecked.push_back(after.checks[i]->service_id);
  }
  std::sort(rechecked.begin(), rechecked.end());
  rechecked.erase(std::unique(rechecked.begin(), rechecked.end()), rechecked.end());
  bool status_changed = before.status != after.status;
  Health health = status_changed || (!rechecked.empty() && rechecked.front().empty())
                      ? NodeHealth(after)
                      : slot.health;
  if (status_changed || before.node != after.node || slot.health != health ||
      before.status == NodeStatus::kLeft) {
    Contribute(slot, kRemove);
    index.Update(before, after, changed_services, changed_checks);
    slot.state = std::move(next);
    slot.health = health;
    Contribute(slot, kAdd);
    dirty_nodes_.insert(key);
    return;
  }
  // Only services changed, or their checks. Members name their service by
  // its place in the node's slot, so a service that is the same, with the
  // same health, at the same place needs nothing at all: a check flip on a
  // node of a thousand services recompiles one service and touches no
  // other group.
  NodeContext was = Context(before, slot.health), is = Context(after, health);
  was.index = is.index = &index;  // the index describes `before` until updated
  // Which rechecked services' health changed: before, through the index;
  // after, through the index for the checks that stayed and a look at
  // those that changed.
  auto health_after = [&](absl::string_view id) {
    Health worst = health;
    if (auto it = index.checks_of.find(id); it != index.checks_of.end()) {
      for (uint32_t i : it->second) {
        if (!Contains(changed_checks, i)) worst = Worse(worst, after.checks[i]->status);
      }
    }
    for (uint32_t i : changed_checks) {
      if (i < after.checks.size() && after.checks[i]->service_id == id) {
        worst = Worse(worst, after.checks[i]->status);
      }
    }
    return worst;
  };
  std::vector<absl::string_view> health_changed;  // sorted
  for (absl::string_view id : rechecked) {
    if (!id.empty() && was.OfId(id) != health_after(id)) health_changed.push_back(id);
  }
  auto health_differs = [&](absl::string_view id) {
    return std::binary_search(health_changed.begin(), health_changed.end(), id);
  };
  const auto& old_services = before.services;
  const auto& new_services = after.services;
  // Where the services at changed places are now (ids are unique in a
  // node): after a deletion or an addition, one or two.
  absl::flat_hash_map<absl::string_view, uint32_t> now_at;
  for (uint32_t j : changed_services) {
    if (j < new_services.size()) now_at.emplace(new_services[j]->id, j);
  }
  absl::flat_hash_set<uint32_t> kept;  // changed places whose service stays
  std::vector<std::pair<uint32_t, uint32_t>> moves;
  for (uint32_t i : changed_services) {
    if (i >= old_services.size()) continue;
    auto it = now_at.find(old_services[i]->id);
    if (it != now_at.end() && new_services[it->second] == old_services[i] &&
        !health_differs(old_services[i]->id)) {
      kept.insert(it->second);
      if (it->second != i) moves.emplace_back(i, it->second);
    } else {
      ContributeService(slot, was, i, kRemove);
    }
  }
  // Services that kept their place and object, and not their health.
  std::vector<uint32_t> rejoin;
  for (absl::string_view id : health_changed) {
    auto it = index.service_at.find(id);
    if (it == index.service_at.end() || Contains(changed_services, it->second)) continue;
    ContributeService(slot, was, it->second, kRemove);
    rejoin.push_back(it->second);
  }
  index.Update(before, after, changed_services, changed_checks);
  slot.state = std::move(next);
  slot.health = health;
  // Moved services change places in two steps, so that no place is taken
  // twice (two services that swap, say).
  for (auto [i, j] : moves) ContributeService(slot, is, j, kMove, i, j | kMoving);
  for (auto [i, j] : moves) ContributeService(slot, is, j, kMove, j | kMoving, j);
  for (uint32_t j : changed_services) {
    if (j < new_services.size() && !kept.contains(j)) ContributeService(slot, is, j, kAdd);
  }
  for (uint32_t i : rejoin) ContributeService(slot, is, i, kAdd);
}

void SnapshotBuilder::ContributeService(const NodeSlot& slot, const NodeContext& c, uint32_t i,
                                        Op op, uint32_t from, uint32_t to) {
  const Service& service = slot.state->services[i];
  int sign = op == kAdd ? +1 : -1;
  // Keys are assembled in one buffer: most lookups find an existing entry
  // and allocate nothing.
  std::string& key = key_buffer_;
  if (op != kMove) {
    for (const std::string& tag : service.tags) Mark(DcKey(KeyKind::kTag, c, tag, key), sign);
  }
  char address[16];
  size_t address_size = service.address.empty() ? c.address_size
                                                 : ParseAddress(service.address, address);
  if (address_size == 0) return;
  if (!service.address.empty() && op != kMove) {
    Reverse(Key(KeyKind::kReverse, {}) + ReverseName(absl::string_view(address, address_size)),
            JoinName({service.name, "service", c.dc}, primary_), sign);
  }
  // A move keeps the member's health (a member that was not there is not
  // found): asking would read the node's checks for nothing.
  Health health = op == kMove ? Health::kPassing : c.Of(service);
  if (health == Health::kCritical) return;
  if (health == Health::kWarning && options_.only_passing) return;
  if (op != kMove) instance_count_ += sign;
  // One group per service; its tags' answers are compiled from it.
  Join(GroupKey(c, service, key), Member{&slot, op == kMove ? from : i, health}, op, to);
}

const std::string& SnapshotBuilder::DcKey(KeyKind kind, const NodeContext& c,
                                          absl::string_view label, std::string& key) {
  key.assign(1, static_cast<char>(kind));
  key.push_back(static_cast<char>(c.dc.size()));
  key += c.dc;
  key.push_back(static_cast<char>(label.size()));
  for (char ch : label) key.push_back(absl::ascii_tolower(static_cast<unsigned char>(ch)));
  return key;
}

const std::string& SnapshotBuilder::GroupKey(const NodeContext& c, const Service& service,
                                             std::string& key) {
  DcKey(KeyKind::kService, c, service.name, key);
  key.push_back(0);  // no tag
  return key;
}

std::string SnapshotBuilder::TagKey(absl::string_view service_key, absl::string_view tag) {
  // The service's key ends with a zero-length label (no tag): the tag's
  // label takes its place.
  std::string key(service_key.substr(0, service_key.size() - 1));
  key.push_back(static_cast<char>(tag.size()));
  key.append(tag.data(), tag.size());
  return key;
}

void SnapshotBuilder::CompileGroup(const std::string& key, Group& group,
                                   CompiledAnswers& out) const {
  struct Scratch {
    char address[16];
    char hex[32];
  };
  // Reused from group to group: a large build compiles a million.
  thread_local std::vector<ServiceInstance> instances;
  thread_local std::vector<Scratch> scratch;
  thread_local std::vector<uint32_t> address_records;
  thread_local std::vector<std::pair<std::string, uint32_t>> tagged;  // lowercase tag, instance
  thread_local std::vector<uint32_t> subset;
  instances.clear();
  scratch.resize(group.members.size());
  for (size_t i = 0; i < group.members.size(); ++i) {
    const Member& m = group.members[i];
    const NodeState& state = *m.node->state;
    const Service& service = state.services[m.service];
    Scratch& s = scratch[i];
    ServiceInstance& inst = instances.emplace_back();
    inst.service = &service;
    inst.health = m.health;
    if (service.address.empty()) {
      inst.address = {s.address, ParseAddress(state.node.address, s.address)};
      inst.target_labels[0] = state.node.name;
      inst.target_labels[1] = "node";
    } else {
      inst.address = {s.address, ParseAddress(service.address, s.address)};
      inst.target_labels[0] = HexLabel(inst.address, s.hex);
      inst.target_labels[1] = "addr";
    }
  }
  // The key is 'S', then the datacenter, service and (empty) tag labels.
  absl::string_view dc(key.data() + 2, static_cast<uint8_t>(key[1]));
  absl::string_view name(dc.data() + dc.size() + 1, static_cast<uint8_t>(dc.data()[dc.size()]));
  AnswerSetRef service = CompileService(key, absl::MakeSpan(instances), dc,
                                        ServiceTtl(options_.service_ttls, name), domains_,
                                        &address_records);
  out.sets.push_back(service);

  // Every tag of the service (once per instance, whatever its case) is a
  // view of the instances that have it.
  tagged.clear();
  for (uint32_t i = 0; i < instances.size(); ++i) {
    for (const std::string& tag : instances[i].service->tags) {
      if (tag.empty() || tag.size() > dns::kMaxLabelLength) continue;
      tagged.emplace_back(absl::AsciiStrToLower(tag), i);
    }
  }
  std::sort(tagged.begin(), tagged.end());
  tagged.erase(std::unique(tagged.begin(), tagged.end()), tagged.end());
  thread_local std::vector<absl::string_view> tags;  // sorted
  tags.clear();
  std::string labels;
  for (size_t begin = 0; begin < tagged.size();) {
    const std::string& tag = tagged[begin].first;
    subset.clear();
    size_t end = begin;
    for (; end < tagged.size() && tagged[end].first == tag; ++end) {
      subset.push_back(tagged[end].second);
    }
    out.sets.push_back(
        CompileSubset(TagKey(key, tag), service, instances, address_records, subset));
    tags.push_back(tag);
    labels.push_back(static_cast<char>(tag.size()));
    labels += tag;
    begin = end;
  }
  // Tags no instance has any more.
  ForEachLabel(group.tags, [&](absl::string_view tag) {
    if (!std::binary_search(tags.begin(), tags.end(), tag)) {
      out.erased.push_back(TagKey(key, tag));
    }
  });
  group.tags = std::move(labels);
}

void SnapshotBuilder::Mark(absl::string_view key, int sign) {
  if (sign > 0) {
    auto it = markers_.find(key);
    if (it == markers_.end()) it = markers_.emplace(std::string(key), 0).first;
    if (it->second++ == 0) dirty_.emplace(key);
    return;
  }
  auto it = markers_.find(key);
  if (it != markers_.end() && --it->second == 0) {
    markers_.erase(it);
    dirty_.emplace(key);
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

void SnapshotBuilder::Join(absl::string_view key, Member member, Op op, uint32_t to) {
  auto it = groups_.find(key);
  if (op == kAdd) {
    if (it == groups_.end()) it = groups_.try_emplace(std::string(key)).first;
    it->second.members.push_back(member);
  } else {
    if (it == groups_.end()) return;
    auto same = [&](const Member& m) {
      return m.node == member.node && m.service == member.service;
    };
    auto& members = it->second.members;
    if (op == kMove) {
      // The same answers: no recompilation.
      if (auto m = std::find_if(members.begin(), members.end(), same); m != members.end()) {
        m->service = to;
      }
      return;
    }
    std::erase_if(members, same);
  }
  if (!it->second.dirty) {
    it->second.dirty = true;
    dirty_groups_.push_back(&*it);
  }
}

void SnapshotBuilder::CompileDirty() {
  compiled_ = 0;
  // Groups left empty go first, as dropping them edits groups_.
  std::erase_if(dirty_groups_, [&](std::pair<const std::string, Group>* entry) {
    const std::string& key = entry->first;
    Group& group = entry->second;
    group.dirty = false;
    if (!group.members.empty()) return false;
    answers_.Erase(key);
    ForEachLabel(group.tags, [&](absl::string_view tag) { answers_.Erase(TagKey(key, tag)); });
    groups_.erase(groups_.find(key));  // node_hash_map: other entries stay put
    return true;
  });
  // The others compile independently of each other: a large build shares
  // them out over the CPUs it may use.
  constexpr size_t kGroupsPerThread = 8192;
  size_t threads = dirty_groups_.size() / kGroupsPerThread;
  int parts = threads < 2 ? 1 : static_cast<int>(std::min<size_t>(threads, UsableCpus()));
  std::vector<CompiledAnswers> compiled(parts);
  RunInParallel(parts, [&](int part) {
    size_t begin = dirty_groups_.size() * part / parts;
    size_t end = dirty_groups_.size() * (part + 1) / parts;
    for (size_t i = begin; i < end; ++i) {
      // What a group's compilation reads is a chain of pointers (group,
      // members, their node slots, node states), far from cache in a large
      // build: it is asked for link by link, a few groups ahead.
      auto ahead = [&](size_t n) { return i + n < end ? &dirty_groups_[i + n]->second : nullptr; };
      if (const Group* g = ahead(6)) __builtin_prefetch(g);
      if (const Group* g = ahead(4)) __builtin_prefetch(g->members.data());
      if (const Group* g = ahead(2)) {
        for (const Member& m : g->members) __builtin_prefetch(m.node);
      }
      if (const Group* g = ahead(1)) {
        for (const Member& m : g->members) __builtin_prefetch(m.node->state.get());
      }
      CompileGroup(dirty_groups_[i]->first, dirty_groups_[i]->second, compiled[part]);
    }
  });
  dirty_groups_.clear();
  std::vector<AnswerSetRef>& sets = compiled[0].sets;
  for (CompiledAnswers& part : compiled) {
    for (const std::string& key : part.erased) answers_.Erase(key);
    if (&part == &compiled[0]) continue;
    std::move(part.sets.begin(), part.sets.end(), std::back_inserter(sets));
  }
  compiled_ = sets.size();
  answers_.SetAll(std::move(sets), parts);
  for (const std::string& key : dirty_) {
    if (static_cast<KeyKind>(key[0]) == KeyKind::kReverse) {
      auto it = reverse_.find(key);
      if (it == reverse_.end()) {
        answers_.Erase(key);
      } else {
        answers_.Set(CompileReverse(key, it->second, options_.node_ttl));
        ++compiled_;
      }
    } else if (markers_.contains(key)) {
      answers_.Set(AnswerSet::Marker(key));
    } else {
      answers_.Erase(key);
    }
  }
  dirty_.clear();
  for (const NodeKey& node_key : dirty_nodes_) {
    std::string key = Key(KeyKind::kNode, {node_key.first, node_key.second});
    auto it = nodes_.find(node_key);
    if (it == nodes_.end() || it->second.state->status == NodeStatus::kLeft) {
      answers_.Erase(key);
    } else {
      answers_.Set(CompileNode(key, it->second.state->node, options_.node_ttl));
      ++compiled_;
    }
  }
  dirty_nodes_.clear();
}

}  // namespace svcdns::catalog
