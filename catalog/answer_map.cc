#include "catalog/answer_map.h"

#include <utility>

namespace svcdns::catalog {

namespace {

// Every shard starts as the same empty one: an empty map costs nothing.
const std::shared_ptr<const AnswerMap::Shard>& EmptyShard() {
  static const auto* const kEmpty =
      new std::shared_ptr<const AnswerMap::Shard>(std::make_shared<AnswerMap::Shard>());
  return *kEmpty;
}

}  // namespace

AnswerMap::AnswerMap() { shards_.assign(size_t{1} << shard_bits_, EmptyShard()); }

void AnswerMap::Split(int bits) {
  std::vector<std::shared_ptr<const Shard>> old = std::move(shards_);
  shard_bits_ = bits;
  shards_.assign(size_t{1} << shard_bits_, EmptyShard());
  for (const auto& shard : old) {
    for (const auto& [key, answers] : *shard) Mutable(ShardOf(key)).emplace(key, answers);
  }
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
  if (shard_bits_ < kMaxShardBits && size_ > (size_t{1} << (shard_bits_ + kMaxPerShardBits))) {
    Split(shard_bits_ + 2);
  }
}

void AnswerMap::Reserve(size_t keys) {
  int bits = shard_bits_;
  while (bits < kMaxShardBits && keys > (size_t{1} << (bits + kMaxPerShardBits))) bits += 2;
  if (bits != shard_bits_) Split(bits);
  size_t per_shard = (keys >> shard_bits_) + (keys >> (shard_bits_ + 3));  // +1/8 for skew
  if (per_shard < 16) return;  // small maps grow cheaply
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
