#include "catalog/answer_map.h"

#include <algorithm>
#include <utility>

#include "base/parallel.h"

namespace svcdns::catalog {

namespace {

// Every shard starts as the same empty one, and every page as the same page
// of them: an empty map costs nothing.
const std::shared_ptr<const AnswerMap::Shard>& EmptyShard() {
  static const auto* const kEmpty =
      new std::shared_ptr<const AnswerMap::Shard>(std::make_shared<AnswerMap::Shard>());
  return *kEmpty;
}

}  // namespace

AnswerMap::AnswerMap() { Split(kMinShardBits); }

void AnswerMap::Split(int bits) {
  static const auto* const kEmptyPage = [] {
    auto page = std::make_shared<Page>();
    for (auto& shard : page->shards) shard = EmptyShard();
    return new std::shared_ptr<const Page>(std::move(page));
  }();
  std::vector<std::shared_ptr<const Page>> old = std::move(pages_);
  size_t old_shards = shard_count();
  shard_bits_ = bits;
  pages_.assign((shard_count() + kPageMask) >> kPageBits, *kEmptyPage);
  for (size_t i = 0; i < old_shards && !old.empty(); ++i) {
    for (const auto& [key, answers] : *old[i >> kPageBits]->shards[i & kPageMask]) {
      Mutable(ShardOf(key)).emplace(key, answers);
    }
  }
}

AnswerMap::Shard& AnswerMap::Mutable(size_t shard) {
  std::shared_ptr<const Page>& page = pages_[shard >> kPageBits];
  if (page.use_count() != 1) page = std::make_shared<Page>(*page);
  // Sole owner: pages and shards are allocated non-const (here).
  std::shared_ptr<const Shard>& slot = const_cast<Page&>(*page).shards[shard & kPageMask];
  if (slot.use_count() != 1) slot = std::make_shared<Shard>(*slot);
  return const_cast<Shard&>(*slot);
}

bool AnswerMap::Replace(Shard& shard, AnswerSetRef answers) {
  absl::string_view key = answers->key();
  // The old entry's key lives in the old set: replace the entry whole.
  auto it = shard.find(key);
  bool added = it == shard.end();
  if (!added) shard.erase(it);
  shard.emplace(key, std::move(answers));
  return added;
}

void AnswerMap::Set(AnswerSetRef answers) {
  size_t shard = ShardOf(answers->key());
  if (Replace(Mutable(shard), std::move(answers))) ++size_;
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
  std::vector<uint32_t> shard_begin(shard_count() + 1);
  for (uint32_t shard : shard_of) ++shard_begin[shard + 1];
  for (size_t s = 0; s < shard_count(); ++s) shard_begin[s + 1] += shard_begin[s];
  std::vector<AnswerSetRef> sorted(sets.size());
  {
    std::vector<uint32_t> next(shard_begin.begin(), shard_begin.end() - 1);
    for (size_t i = 0; i < sets.size(); ++i) sorted[next[shard_of[i]]++] = std::move(sets[i]);
  }
  // Each part owns a range of pages: no two threads touch one.
  std::vector<size_t> added(parts);
  RunInParallel(parts, [&](int part) {
    size_t first = (pages_.size() * part / parts) << kPageBits;
    size_t last = std::min(shard_count(), (pages_.size() * (part + 1) / parts) << kPageBits);
    for (size_t s = first; s < last; ++s) {
      uint32_t begin = shard_begin[s], end = shard_begin[s + 1];
      if (begin == end) continue;
      Shard& shard = Mutable(s);
      shard.reserve(shard.size() + (end - begin));
      for (uint32_t k = begin; k < end; ++k) {
        if (k + kAhead < sorted.size()) __builtin_prefetch(sorted[k + kAhead].get());
        if (Replace(shard, std::move(sorted[k]))) ++added[part];
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
  for (size_t i = 0; i < shard_count(); ++i) {
    if (ShardAt(i).capacity() < per_shard) Mutable(i).reserve(per_shard);
  }
}

void AnswerMap::Erase(absl::string_view key) {
  size_t index = ShardOf(key);
  if (!ShardAt(index).contains(key)) return;
  Mutable(index).erase(key);
  --size_;
}

}  // namespace svcdns::catalog
