#include "catalog/catalog_store.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "catalog/validation.h"

namespace svcdns::catalog {
namespace {

// Erases the elements that match, each replaced by the last one: the others
// keep their places. (A node's services and checks have no order; the
// builder follows each service by its place, so a deletion from a node of a
// thousand services moves one of them, not every one after it.)
// (Reads go through a const list: writing to one copies its chunk first.)
template <typename T, typename Match>
bool SwapErase(ChunkedList<T>& items, Match match) {
  bool erased = false;
  for (size_t i = 0; i < items.size();) {
    if (!match(std::as_const(items)[i])) {
      ++i;
      continue;
    }
    if (i + 1 != items.size()) items[i] = std::as_const(items).back();
    items.pop_back();
    erased = true;
  }
  return erased;
}

// The place of the first item that matches, or the list's size.
template <typename T, typename Match>
size_t Find(const ChunkedList<T>& items, Match match) {
  return std::find_if(items.begin(), items.end(), match) - items.begin();
}

// Applies one change to `state` (a copy), validating what it brings: the
// node's other services and checks were valid already, so an update costs
// O(change) checks rather than O(node). (Whether a new check's service
// exists is known once every change is applied.) Sets `changed` if the
// state differs.
absl::Status Apply(const Change& change, NodeState& state, bool& changed) {
  auto service_of = [&](absl::string_view id) {
    return Find(state.services, [&](const Service& s) { return s.id == id; });
  };
  auto check_of = [&](absl::string_view id) {
    return Find(state.checks, [&](const Check& c) { return c.id == id; });
  };
  if (const auto* service = std::get_if<Service>(&change)) {
    if (auto s = ValidateService(*service); !s.ok()) return s;
    size_t at = service_of(service->id);
    if (at == state.services.size()) {
      state.services.push_back(*service);
      changed = true;
    } else if (std::as_const(state.services)[at] != *service) {
      state.services[at] = *service;
      changed = true;
    }
  } else if (const auto* del = std::get_if<DeleteService>(&change)) {
    changed |= SwapErase(state.services, [&](const Service& s) { return s.id == del->id; });
    changed |= SwapErase(state.checks, [&](const Check& c) { return c.service_id == del->id; });
  } else if (const auto* check = std::get_if<Check>(&change)) {
    if (auto s = ValidateCheck(*check); !s.ok()) return s;  // its service: see Update()
    size_t at = check_of(check->id);
    if (at == state.checks.size()) {
      state.checks.push_back(*check);
      changed = true;
    } else if (std::as_const(state.checks)[at] != *check) {
      state.checks[at] = *check;
      changed = true;
    }
  } else if (const auto* del_check = std::get_if<DeleteCheck>(&change)) {
    changed |= SwapErase(state.checks, [&](const Check& c) { return c.id == del_check->id; });
  } else if (const auto* result = std::get_if<CheckResult>(&change)) {
    size_t at = check_of(result->check_id);
    if (at == state.checks.size()) {
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
  NodeState next = *(*record)->state;
  bool changed = false;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (auto s = Apply(changes[i], next, changed); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("changes[", i, "]: ", s.message()));
    }
  }
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto* check = std::get_if<Check>(&changes[i]);
    if (check == nullptr || check->service_id.empty()) continue;
    auto of_service = [&](const Service& s) { return s.id == check->service_id; };
    auto is_it = [&](const Check& c) { return c.id == check->id; };
    if (std::any_of(next.checks.begin(), next.checks.end(), is_it) &&
        std::none_of(next.services.begin(), next.services.end(), of_service)) {
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
