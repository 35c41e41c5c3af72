#include "catalog/answer_map.h"

#include <utility>

#include "base/parallel.h"

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

int AnswerMap::BitsFor(size_t keys) const {
  int bits = shard_bits_;
  while (bits < kMaxShardBits && keys > (size_t{1} << (bits + kMaxPerShardBits))) bits += 2;
  return bits;
}

void AnswerMap::SetAll(std::vector<AnswerSetRef> sets, int parts) {
  constexpr size_t kBatch = 4096;  // below this, shard order gains nothing
  if (sets.size() < kBatch) {
    for (AnswerSetRef& answers : sets) Set(std::move(answers));
    return;
  }
  if (int bits = BitsFor(size_ + sets.size()); bits != shard_bits_) Split(bits);
  // The sets in shard order (a counting sort: one pass to count, one to place).
  // (Sets are read a few ahead of use: a million of them are far from
  // cache, and each read would otherwise wait on memory.)
  constexpr size_t kAhead = 8;
  std::vector<uint32_t> shard_of(sets.size());
  RunInParallel(parts, [&](int part) {
    size_t begin = sets.size() * part / parts, end = sets.size() * (part + 1) / parts;
    for (size_t i = begin; i < end; ++i) {
      if (i + kAhead < end) __builtin_prefetch(sets[i + kAhead].get());
      shard_of[i] = static_cast<uint32_t>(ShardOf(sets[i]->key()));
    }
  });
  std::vector<uint32_t> shard_begin(shards_.size() + 1);
  for (uint32_t shard : shard_of) ++shard_begin[shard + 1];
  for (size_t s = 0; s < shards_.size(); ++s) shard_begin[s + 1] += shard_begin[s];
  std::vector<AnswerSetRef> sorted(sets.size());
  {
    std::vector<uint32_t> next(shard_begin.begin(), shard_begin.end() - 1);
    for (size_t i = 0; i < sets.size(); ++i) sorted[next[shard_of[i]]++] = std::move(sets[i]);
  }
  // Each part owns a range of shards: no two threads touch one.
  std::vector<size_t> added(parts);
  RunInParallel(parts, [&](int part) {
    size_t first = shards_.size() * part / parts, last = shards_.size() * (part + 1) / parts;
    for (size_t s = first; s < last; ++s) {
      uint32_t begin = shard_begin[s], end = shard_begin[s + 1];
      if (begin == end) continue;
      Shard& shard = Mutable(s);
      shard.reserve(shard.size() + (end - begin));
      for (uint32_t k = begin; k < end; ++k) {
        if (k + kAhead < sorted.size()) __builtin_prefetch(sorted[k + kAhead].get());
        AnswerSetRef& answers = sorted[k];
        absl::string_view key = answers->key();
        if (auto it = shard.find(key); it != shard.end()) {
          shard.erase(it);  // its key lives in the old set
        } else {
          ++added[part];
        }
        shard.emplace(key, std::move(answers));
      }
    }
  });
  for (size_t n : added) size_ += n;
}

void AnswerMap::Reserve(size_t keys) {
  int bits = BitsFor(keys);
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
