#include "catalog/answer_map.h"

#include <algorithm>
#include <utility>

#include "base/parallel.h"

namespace svcdns::catalog {

// Pages and shards retired by the builder's map between two Freezes. The
// version frozen at the start of the list holds it, and the list holds the
// next one: those retired later may still be shown by an older version.
struct AnswerMap::Retired {
  std::vector<Page*> pages;
  std::vector<ShardNode*> shards;
  std::vector<AnswerSetRef> answers;
  std::shared_ptr<Retired> newer;

  Retired() = default;
  Retired(const Retired&) = delete;
  Retired& operator=(const Retired&) = delete;
  ~Retired() {
    Free();
    // Free the lists no one else holds now, in a loop: after versions that
    // died newest first, a recursion could be as deep as they were many.
    std::shared_ptr<Retired> next = std::move(newer);
    while (next != nullptr && next.use_count() == 1) {
      next->Free();
      next = std::move(next->newer);
    }
  }
  void Free() {
    for (Page* page : pages) delete page;
    for (ShardNode* shard : shards) delete shard;
    pages.clear();
    shards.clear();
    answers.clear();
  }
};

AnswerMap::AnswerMap() : version_(1), retired_(std::make_shared<Retired>()) {
  Split(kMinShardBits);
}

AnswerMap::~AnswerMap() { RetireAll(); }

AnswerMap::AnswerMap(AnswerMap&& other) noexcept { *this = std::move(other); }

AnswerMap& AnswerMap::operator=(AnswerMap&& other) noexcept {
  if (this == &other) return *this;
  RetireAll();
  shard_bits_ = other.shard_bits_;
  pages_ = std::move(other.pages_);
  size_ = other.size_;
  version_ = other.version_;
  retired_ = std::move(other.retired_);
  other.pages_.clear();
  other.size_ = 0;
  other.version_ = 0;  // left frozen and empty
  return *this;
}

void AnswerMap::RetireAll() {
  if (version_ != 0) {  // a frozen map's pages, shards and answers are the builder's
    for (size_t i = 0; i < pages_.size() << kPageBits && size_ > 0; ++i) {
      for (const Entry& entry : ShardAt(i)) Retire(entry.answers);
    }
    RetirePages(pages_);
  }
  pages_.clear();
  size_ = 0;
  retired_.reset();  // frees what no version holds any longer
}

AnswerMap AnswerMap::Freeze() {
  AnswerMap frozen(FrozenTag{});
  frozen.shard_bits_ = shard_bits_;
  frozen.pages_ = pages_;
  frozen.size_ = size_;
  // What this map retires from now on, `frozen` may show.
  auto next = std::make_shared<Retired>();
  retired_->newer = next;
  retired_ = next;
  frozen.retired_ = std::move(next);
  ++version_;
  return frozen;
}

template <typename T>
void AnswerMap::Retire(T* item, std::vector<T*>& list) {
  if (item->version == 0) return;
  if (item->version == version_) {
    delete item;  // made since the last Freeze: no version shows it
    return;
  }
  std::lock_guard<std::mutex> lock(retire_mu_);
  list.push_back(item);
}

void AnswerMap::Retire(const AnswerSet* answers) {
  std::lock_guard<std::mutex> lock(retire_mu_);
  retired_->answers.push_back(AnswerSetRef::Adopt(answers));
}

void AnswerMap::RetirePages(const std::vector<Page*>& pages) {
  for (Page* page : pages) {
    for (ShardNode* shard : page->shards) Retire(shard, retired_->shards);
    Retire(page, retired_->pages);
  }
}

void AnswerMap::Split(int bits) {
  // Every shard starts as the same empty one, and every page as the same
  // page of them: an empty map costs nothing. Version 0: never freed.
  static Page* const kEmptyPage = [] {
    auto* empty_shard = new ShardNode{Shard(), 0};
    auto* page = new Page;
    for (auto& shard : page->shards) shard = empty_shard;
    page->version = 0;
    return page;
  }();
  std::vector<Page*> old = std::move(pages_);
  size_t old_shards = shard_count();
  shard_bits_ = bits;
  pages_.assign((shard_count() + kPageMask) >> kPageBits, kEmptyPage);
  for (size_t i = 0; i < old_shards && !old.empty(); ++i) {
    ShardNode* shard = old[i >> kPageBits]->shards[i & kPageMask];
    for (const Entry& entry : shard->entries) Mutable(ShardOf(entry.hash)).insert(entry);
  }
  RetirePages(old);
}

AnswerMap::Shard& AnswerMap::Mutable(size_t shard) {
  Page*& page = pages_[shard >> kPageBits];
  if (page->version != version_) {
    Page* copy = new Page(*page);
    copy->version = version_;
    Retire(page, retired_->pages);
    page = copy;
  }
  ShardNode*& node = page->shards[shard & kPageMask];
  if (node->version != version_) {
    ShardNode* copy = new ShardNode{node->entries, version_};
    Retire(node, retired_->shards);
    node = copy;
  }
  return node->entries;
}

bool AnswerMap::Replace(Shard& shard, uint64_t hash, AnswerSetRef answers) {
  auto it = shard.find(Probe{answers->key(), hash});
  bool added = it == shard.end();
  if (!added) {
    Retire(it->answers);
    shard.erase(it);
  }
  shard.insert(Entry{hash, answers.Detach()});
  return added;
}

void AnswerMap::Set(AnswerSetRef answers) {
  uint64_t hash = Hash(answers->key());
  if (Replace(Mutable(ShardOf(hash)), hash, std::move(answers))) ++size_;
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
  std::vector<uint64_t> hash_of(sets.size());
  RunInParallel(parts, [&](int part) {
    size_t begin = sets.size() * part / parts, end = sets.size() * (part + 1) / parts;
    for (size_t i = begin; i < end; ++i) {
      if (i + kAhead < end) __builtin_prefetch(sets[i + kAhead].get());
      hash_of[i] = Hash(sets[i]->key());
    }
  });
  std::vector<uint32_t> shard_begin(shard_count() + 1);
  for (uint64_t hash : hash_of) ++shard_begin[ShardOf(hash) + 1];
  for (size_t s = 0; s < shard_count(); ++s) shard_begin[s + 1] += shard_begin[s];
  std::vector<std::pair<uint64_t, AnswerSetRef>> sorted(sets.size());
  {
    std::vector<uint32_t> next(shard_begin.begin(), shard_begin.end() - 1);
    for (size_t i = 0; i < sets.size(); ++i) {
      sorted[next[ShardOf(hash_of[i])]++] = {hash_of[i], std::move(sets[i])};
    }
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
        if (k + kAhead < sorted.size()) __builtin_prefetch(sorted[k + kAhead].second.get());
        if (Replace(shard, sorted[k].first, std::move(sorted[k].second))) ++added[part];
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
  Probe probe{key, Hash(key)};
  size_t index = ShardOf(probe.hash);
  if (!ShardAt(index).contains(probe)) return;
  Shard& shard = Mutable(index);
  auto it = shard.find(probe);
  Retire(it->answers);
  shard.erase(it);
  --size_;
}

}  // namespace svcdns::catalog
