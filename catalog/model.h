// The catalog's data model: plain C++ values, free of protobuf and JSON, so
// that everything past the ingest edge (snapshots, the responder) depends on
// this file alone.
#ifndef SVCDNS_CATALOG_MODEL_H_
#define SVCDNS_CATALOG_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog/chunked_list.h"

namespace svcdns::catalog {

// Numbered as svcdns.v1.HealthStatus, so conversions are a cast.
enum class Health : uint8_t { kPassing = 1, kWarning = 2, kCritical = 3 };

const char* HealthName(Health health);  // "passing", "warning", "critical"

struct Weights {
  uint32_t passing = 1;
  uint32_t warning = 1;
  bool operator==(const Weights&) const = default;
};

struct Service {
  std::string id;    // unique on its node
  std::string name;  // a DNS label
  std::vector<std::string> tags;
  std::string address;  // empty: the node's address
  uint16_t port = 0;
  std::map<std::string, std::string> meta;
  Weights weights;
  bool operator==(const Service&) const = default;
};

struct Check {
  std::string id;          // unique on its node
  std::string name;
  std::string service_id;  // empty: a check of the whole node
  Health status = Health::kCritical;
  std::string output;
  std::string notes;
  bool operator==(const Check&) const = default;
};

struct Node {
  std::string name;  // a DNS label
  std::string address;
  std::string datacenter;  // empty: the server's own
  std::map<std::string, std::string> meta;
  bool operator==(const Node&) const = default;
};

// A value shared by the successive states of a node: copying one copies a
// pointer, and two copies of one value compare equal without reading it.
// The store replaces a node's whole state on every change, so a service
// that did not change is shared by the old and new states, not copied, and
// the snapshot builder tells it apart from a changed one in O(1).
template <typename T>
class Shared {
 public:
  Shared() : value_(std::make_shared<T>()) {}
  Shared(T value) : value_(std::make_shared<T>(std::move(value))) {}  // NOLINT: a value
  operator const T&() const { return *value_; }  // NOLINT: reads as the value
  const T& operator*() const { return *value_; }
  const T* operator->() const { return value_.get(); }
  // The value to change: copied first unless this is its only owner (only
  // the thread that owns the states copies them, so that cannot change
  // behind its back).
  T& Mutable() {
    if (value_.use_count() != 1) value_ = std::make_shared<T>(*value_);
    return *value_;
  }
  bool operator==(const Shared& other) const {
    return value_ == other.value_ || *value_ == *other.value_;
  }
  bool operator==(const T& other) const { return *value_ == other; }

 private:
  std::shared_ptr<T> value_;
};

// Liveness of a node as the server sees its agent.
enum class NodeStatus : uint8_t { kAlive, kFailed, kLeft };

// A node and everything it owns. Its services and checks are in chunked
// lists: the store copies a node's state on every change, and a copy
// shares every chunk the change does not touch.
struct NodeState {
  Node node;
  ChunkedList<Shared<Service>> services;
  ChunkedList<Shared<Check>> checks;
  NodeStatus status = NodeStatus::kAlive;
  bool operator==(const NodeState&) const = default;
};

// How a node is told apart: its datacenter (the server's own if empty) and
// its name, both lowercase.
using NodeKey = std::pair<std::string, std::string>;
NodeKey KeyOfNode(const Node& node, std::string_view local_datacenter);

struct Catalog {
  uint64_t index = 0;
  std::vector<NodeState> nodes;
};

// The catalog as published to readers on other threads (the HTTP API): node
// states shared with the store, which replaces them and never modifies them.
struct SharedCatalog {
  uint64_t index = 0;
  std::vector<std::shared_ptr<const NodeState>> nodes;
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_MODEL_H_
