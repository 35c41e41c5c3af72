#include "catalog/catalog_store.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "catalog/validation.h"

namespace svcdns::catalog {
namespace {

// Erases the items at `places`, each replaced by the last one: the others
// keep their places. (A node's services and checks have no order; the
// builder follows each service by its place, so a deletion from a node of a
// thousand services moves one of them, not every one after it.) From the
// highest place down, so that the last item is never one to erase.
template <typename T>
void EraseAt(ChunkedList<T>& items, std::vector<uint32_t> places) {
  std::sort(places.begin(), places.end(), std::greater<>());
  for (uint32_t i : places) {
    // (Reads go through a const list: writing to one copies its chunk first.)
    if (i + 1 != items.size()) items[i] = std::as_const(items).back();
    items.pop_back();
  }
}

// Where `id` is, or `none`.
uint32_t PlaceOf(const absl::flat_hash_map<std::string, uint32_t>& places, absl::string_view id,
                 uint32_t none) {
  auto it = places.find(id);
  return it == places.end() ? none : it->second;
}

// Applies one change to `state` (a copy), found through `index` (which
// describes `state`), validating what it brings: the node's other services
// and checks were valid already, so an update costs O(change) rather than
// O(node). (Whether a new check's service exists is known once every change
// is applied.) Sets `changed` if the state differs.
absl::Status Apply(const Change& change, NodeState& state, const NodeIndex& index,
                   bool& changed) {
  uint32_t no_service = static_cast<uint32_t>(state.services.size());
  uint32_t no_check = static_cast<uint32_t>(state.checks.size());
  if (const auto* service = std::get_if<Service>(&change)) {
    if (auto s = ValidateService(*service); !s.ok()) return s;
    uint32_t at = PlaceOf(index.service_at, service->id, no_service);
    if (at == no_service) {
      state.services.push_back(*service);
      changed = true;
    } else if (std::as_const(state.services)[at] != *service) {
      state.services[at] = *service;
      changed = true;
    }
  } else if (const auto* del = std::get_if<DeleteService>(&change)) {
    uint32_t at = PlaceOf(index.service_at, del->id, no_service);
    if (at != no_service) {
      EraseAt(state.services, {at});
      changed = true;
    }
    if (auto checks = index.checks_of.find(del->id); checks != index.checks_of.end()) {
      EraseAt(state.checks, checks->second);
      changed = true;
    }
  } else if (const auto* check = std::get_if<Check>(&change)) {
    if (auto s = ValidateCheck(*check); !s.ok()) return s;  // its service: see Update()
    uint32_t at = PlaceOf(index.check_at, check->id, no_check);
    if (at == no_check) {
      state.checks.push_back(*check);
      changed = true;
    } else if (std::as_const(state.checks)[at] != *check) {
      state.checks[at] = *check;
      changed = true;
    }
  } else if (const auto* del_check = std::get_if<DeleteCheck>(&change)) {
    uint32_t at = PlaceOf(index.check_at, del_check->id, no_check);
    if (at != no_check) {
      EraseAt(state.checks, {at});
      changed = true;
    }
  } else if (const auto* result = std::get_if<CheckResult>(&change)) {
    uint32_t at = PlaceOf(index.check_at, result->check_id, no_check);
    if (at == no_check) {
      return absl::InvalidArgumentError(
          absl::StrCat("check_status: check \"", result->check_id, "\" does not exist"));
    }
    const Check& current = std::as_const(state.checks)[at];
    if (current.status != result->status || current.output != result->output) {
      Check& updated = state.checks[at].Mutable();
      updated.status = result->status;
      updated.output = result->output;
      changed = true;
    }
  }
  return absl::OkStatus();
}

}  // namespace

CatalogStore::CatalogStore(std::string local_datacenter)
    : local_datacenter_(absl::AsciiStrToLower(local_datacenter)) {}

NodeKey CatalogStore::KeyOf(const Node& node) const {
  return KeyOfNode(node, local_datacenter_);
}

void CatalogStore::SetFileNodes(std::vector<NodeState> nodes, uint64_t index_floor) {
  // The same files again (a SIGHUP that changed nothing): the index stays.
  size_t current = 0, same = 0;
  for (const auto& [key, record] : nodes_) current += record.from_files && !record.from_stream;
  for (const NodeState& state : nodes) {
    auto it = nodes_.find(KeyOf(state.node));
    same += it != nodes_.end() && it->second.from_files && !it->second.from_stream &&
            *it->second.state == state;
  }
  if (same == nodes.size() && current == nodes.size() && index_ >= index_floor) return;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.from_files && it->second.owner == 0 && !it->second.from_stream) {
      changed_.insert(it->first);
      it = nodes_.erase(it);
    } else {
      it->second.from_files = false;
      ++it;
    }
  }
  for (NodeState& state : nodes) {
    NodeKey key = KeyOf(state.node);
    auto [it, inserted] = nodes_.try_emplace(key);
    if (!inserted && it->second.from_stream) continue;  // the agent's word wins
    Replace(key, it->second, std::move(state));
    it->second.from_files = true;
  }
  index_ = std::max(index_ + 1, index_floor);
}

void CatalogStore::RestoreNodes(std::vector<NodeState> nodes, absl::Time now) {
  for (NodeState& state : nodes) {
    NodeKey key = KeyOf(state.node);
    NodeRecord& record = nodes_[key];
    state.status = NodeStatus::kAlive;
    Replace(key, record, std::move(state));
    record.from_stream = true;
    record.disconnected_at = now;
    record.last_contact = now;
  }
  ++index_;
}

absl::StatusOr<StreamId> CatalogStore::Hello(StreamId stream, const Node& node,
                                             absl::Time now) {
  if (stream_nodes_.contains(stream)) {
    return absl::FailedPreconditionError("a second Hello on the same stream");
  }
  if (auto s = ValidateNode(node); !s.ok()) return s;
  NodeKey key = KeyOf(node);
  NodeRecord& record = nodes_[key];
  StreamId previous = record.owner;
  if (previous != 0) stream_nodes_.erase(previous);
  record.owner = stream;
  record.from_stream = true;
  record.last_contact = now;
  record.disconnected_at = absl::InfiniteFuture();
  if (record.state->node != node || record.state->status != NodeStatus::kAlive) {
    NodeState next = *record.state;
    next.node = node;
    next.status = NodeStatus::kAlive;
    Replace(key, record, std::move(next));
    record.status_since = now;
    ++index_;
  }
  stream_nodes_[stream] = key;
  return previous;
}

absl::StatusOr<CatalogStore::NodeRecord*> CatalogStore::Owned(StreamId stream) {
  auto it = stream_nodes_.find(stream);
  if (it == stream_nodes_.end()) {
    return absl::FailedPreconditionError("Sync or Update before Hello");
  }
  return &nodes_[it->second];
}

absl::Status CatalogStore::Sync(StreamId stream, std::vector<Service> services,
                                std::vector<Check> checks, bool leaving, absl::Time now) {
  auto record = Owned(stream);
  if (!record.ok()) return record.status();
  NodeState next;
  next.node = (*record)->state->node;
  next.services.assign(std::make_move_iterator(services.begin()),
                       std::make_move_iterator(services.end()));
  next.checks.assign(std::make_move_iterator(checks.begin()),
                     std::make_move_iterator(checks.end()));
  if (auto s = ValidateNodeState(next); !s.ok()) return s;
  next.status = leaving ? NodeStatus::kLeft : NodeStatus::kAlive;
  (*record)->last_contact = now;
  if (leaving) (*record)->status_since = now;
  if (next != *(*record)->state) {
    Replace(stream_nodes_[stream], **record, std::move(next));
    ++index_;
  }
  return absl::OkStatus();
}

absl::Status CatalogStore::Update(StreamId stream, const std::vector<Change>& changes,
                                  absl::Time now) {
  auto record = Owned(stream);
  if (!record.ok()) return record.status();
  // The index follows `next` change by change; a rejected update drops it
  // (the record's is made again at its next update).
  std::unique_ptr<NodeIndex> index = std::move((*record)->index);
  if (index == nullptr) index = std::make_unique<NodeIndex>(*(*record)->state);
  NodeState next = *(*record)->state;  // O(chunks): copies share them
  bool changed = false;
  for (size_t i = 0; i < changes.size(); ++i) {
    NodeState before;
    before.services = next.services;
    before.checks = next.checks;
    if (auto s = Apply(changes[i], next, *index, changed); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("changes[", i, "]: ", s.message()));
    }
    index->Update(before, next, ChangedPlaces(before.services, next.services),
                  ChangedPlaces(before.checks, next.checks));
  }
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto* check = std::get_if<Check>(&changes[i]);
    if (check == nullptr || check->service_id.empty()) continue;
    if (index->check_at.contains(check->id) && !index->service_at.contains(check->service_id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "changes[", i, "]: check \"", check->id, "\": service_id \"", check->service_id,
          "\" is not a service of node \"", next.node.name, "\""));
    }
  }
  (*record)->last_contact = now;
  if (changed) {
    Replace(stream_nodes_[stream], **record, std::move(next));
    ++index_;
  }
  (*record)->index = std::move(index);
  return absl::OkStatus();
}

void CatalogStore::StreamEnded(StreamId stream, absl::Time now) {
  auto it = stream_nodes_.find(stream);
  if (it == stream_nodes_.end()) return;
  NodeRecord& record = nodes_[it->second];
  record.owner = 0;
  record.disconnected_at = now;
  stream_nodes_.erase(it);
}

void CatalogStore::Touch(StreamId stream, absl::Time now) {
  auto it = stream_nodes_.find(stream);
  if (it != stream_nodes_.end()) nodes_[it->second].last_contact = now;
}

bool CatalogStore::Expire(absl::Time now, absl::Duration grace, absl::Duration reap) {
  bool changed = false;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    NodeRecord& r = it->second;
    if (r.owner == 0 && r.from_stream) {
      if (r.state->status == NodeStatus::kAlive && now - r.disconnected_at >= grace) {
        NodeState next = *r.state;
        next.status = NodeStatus::kFailed;
        Replace(it->first, r, std::move(next));
        r.status_since = now;
        changed = true;
      } else if (r.state->status != NodeStatus::kAlive && now - r.status_since >= reap) {
        changed_.insert(it->first);
        it = nodes_.erase(it);
        changed = true;
        continue;
      }
    }
    ++it;
  }
  if (changed) ++index_;
  return changed;
}

absl::Time CatalogStore::NextExpiry(absl::Duration grace, absl::Duration reap) const {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [key, r] : nodes_) {
    if (r.owner != 0 || !r.from_stream) continue;
    next = std::min(next, r.state->status == NodeStatus::kAlive ? r.disconnected_at + grace
                                                                : r.status_since + reap);
  }
  return next;
}

SharedCatalog CatalogStore::Shared() const {
  SharedCatalog catalog;
  catalog.index = index_;
  catalog.nodes.reserve(nodes_.size());
  for (const auto& [key, record] : nodes_) catalog.nodes.push_back(record.state);
  return catalog;
}

std::vector<std::pair<NodeKey, std::shared_ptr<const NodeState>>> CatalogStore::TakeChanges() {
  std::vector<std::pair<NodeKey, std::shared_ptr<const NodeState>>> changes;
  changes.reserve(changed_.size());
  for (const NodeKey& key : changed_) {
    auto it = nodes_.find(key);
    changes.emplace_back(key, it == nodes_.end() ? nullptr : it->second.state);
  }
  changed_.clear();
  return changes;
}

void CatalogStore::Replace(const NodeKey& key, NodeRecord& record, NodeState next) {
  record.state = std::make_shared<const NodeState>(std::move(next));
  record.index.reset();  // Update() gives it back, the others replace it all
  changed_.insert(key);
}

Catalog CatalogStore::StreamNodes() const {
  Catalog catalog;
  catalog.index = index_;
  for (const auto& [key, record] : nodes_) {
    if (record.from_stream && record.state->status == NodeStatus::kAlive) {
      catalog.nodes.push_back(*record.state);
    }
  }
  return catalog;
}

std::vector<Member> CatalogStore::Members() const {
  std::vector<Member> members;
  for (const auto& [key, r] : nodes_) {
    Member m;
    m.name = r.state->node.name;
    m.address = r.state->node.address;
    m.datacenter = key.first;
    m.status = r.state->status;
    m.connected = r.owner != 0;
    m.from_files = r.from_files && !r.from_stream;
    m.last_contact = r.last_contact;
    members.push_back(std::move(m));
  }
  return members;
}

}  // namespace svcdns::catalog
