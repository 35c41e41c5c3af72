#include "catalog/answer_map.h"

#include <utility>

namespace svcdns::catalog {

AnswerMap::AnswerMap() {
  // Every shard starts as the same empty one: a small catalog's map costs
  // one allocation until it is filled.
  static const auto* const kEmpty = new std::shared_ptr<const Shard>(std::make_shared<Shard>());
  shards_.assign(size_t{1} << kShardBits, *kEmpty);
}

AnswerMap::Shard& AnswerMap::Mutable(size_t shard) {
  std::shared_ptr<const Shard>& slot = shards_[shard];
  if (slot.use_count() != 1) slot = std::make_shared<Shard>(*slot);
  // Sole owner: the shard was allocated non-const (above, or here).
  return const_cast<Shard&>(*slot);
}

void AnswerMap::Set(std::string key, std::shared_ptr<const AnswerSet> answers) {
  Shard& shard = Mutable(ShardOf(key));
  auto [it, inserted] = shard.try_emplace(std::move(key), answers);
  if (inserted) {
    ++size_;
  } else {
    it->second = std::move(answers);
  }
}

void AnswerMap::Erase(absl::string_view key) {
  size_t index = ShardOf(key);
  if (!shards_[index]->contains(key)) return;
  Mutable(index).erase(key);
  --size_;
}

}  // namespace svcdns::catalog
