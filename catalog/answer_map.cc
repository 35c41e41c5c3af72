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

void AnswerMap::Set(AnswerSetRef answers) {
  absl::string_view key = answers->key();
  Shard& shard = Mutable(ShardOf(key));
  // The old entry's key lives in the old set: replace the entry whole.
  if (auto it = shard.find(key); it != shard.end()) {
    shard.erase(it);
    --size_;
  }
  shard.emplace(key, std::move(answers));
  ++size_;
}

void AnswerMap::Reserve(size_t keys) {
  size_t per_shard = (keys >> kShardBits) + (keys >> (kShardBits + 3));  // +1/8 for skew
  if (per_shard < 16) return;  // small maps grow cheaply, and share empty shards
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (shards_[i]->capacity() < per_shard) Mutable(i).reserve(per_shard);
  }
}

void AnswerMap::Erase(absl::string_view key) {
  size_t index = ShardOf(key);
  if (!shards_[index]->contains(key)) return;
  Mutable(index).erase(key);
  --size_;
}

}  // namespace svcdns::catalog
