// Where a node's services and checks are, by id: kept in step with the
// node's states by the store (to apply a change without scanning the node)
// and the snapshot builder (to tell what a change touched), so that both
// do O(change) work on a node of a thousand services.
#ifndef SVCDNS_CATALOG_NODE_INDEX_H_
#define SVCDNS_CATALOG_NODE_INDEX_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "catalog/model.h"

namespace svcdns::catalog {

// The places where two lists hold different objects (a changed service or
// check is a new object), ascending; a place only one list has is one. Reads
// no item of a chunk the lists share.
template <typename T>
std::vector<uint32_t> ChangedPlaces(const ChunkedList<Shared<T>>& a,
                                    const ChunkedList<Shared<T>>& b) {
  std::vector<uint32_t> places;
  size_t common = std::min(a.size(), b.size());
  for (uint32_t i = 0; i < common; ++i) {
    if (i % a.kChunkSize == 0 && a.SharesChunkAt(b, i)) {  // and so its items
      i += a.kChunkSize - 1;
      continue;
    }
    if (&*a[i] != &*b[i]) places.push_back(i);
  }
  for (size_t i = common; i < std::max(a.size(), b.size()); ++i) {
    places.push_back(static_cast<uint32_t>(i));
  }
  return places;
}

struct NodeIndex {
  absl::flat_hash_map<std::string, uint32_t> service_at;  // id -> place
  absl::flat_hash_map<std::string, uint32_t> check_at;    // id -> place
  // Service id ("" for the node's own checks) -> places of its checks.
  absl::flat_hash_map<std::string, std::vector<uint32_t>> checks_of;

  // O(node): made once, then kept up to date.
  explicit NodeIndex(const NodeState& state);
  // From `before` to `after`, which differ at the places given (as
  // ChangedPlaces finds them).
  void Update(const NodeState& before, const NodeState& after,
              const std::vector<uint32_t>& services, const std::vector<uint32_t>& checks);
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_NODE_INDEX_H_
