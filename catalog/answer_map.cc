#include "catalog/answer_map.h"

#include <algorithm>
#include <iterator>
#include <new>
#include <utility>

#include "base/parallel.h"

namespace svcdns::catalog {
AnswerMap::ShardNode* AnswerMap::ShardNode::New(int log_capacity, uint64_t version) {
  size_t capacity = size_t{1} << log_capacity;
  void* block = ::operator new(sizeof(ShardNode) + capacity * sizeof(Entry));
  auto* node = new (block) ShardNode{version, 0, static_cast<uint8_t>(log_capacity)};
  std::fill_n(node->slots(), capacity, Entry{0, nullptr});
  return node;
}

void AnswerMap::ShardNode::Place(Entry entry) {
  size_t mask = capacity() - 1;
  size_t i = entry.hash & mask;
  while (slots()[i].answers != nullptr) i = (i + 1) & mask;
  slots()[i] = entry;
  ++size;
}

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
      ShardAt(i).ForEach([this](const Entry& entry) { Retire(entry.answers); });
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
    ShardNode* empty_shard = ShardNode::New(0, 0);
    auto* page = new Page;
    for (auto& shard : page->shards) shard = empty_shard;
    std::fill_n(page->log_capacity, std::size(page->log_capacity), 0);
    page->version = 0;
    return page;
  }();
  std::vector<Page*> old = std::move(pages_);
  size_t old_shards = shard_count();
  shard_bits_ = bits;
  pages_.assign((shard_count() + kPageMask) >> kPageBits, kEmptyPage);
  for (size_t i = 0; i < old_shards && !old.empty(); ++i) {
    old[i >> kPageBits]->shards[i & kPageMask]->ForEach(
        [this](const Entry& entry) { Insert(ShardOf(entry.hash), entry); });
  }
  RetirePages(old);
}

AnswerMap::ShardNode* AnswerMap::Mutable(size_t shard) {
  Page*& page = pages_[shard >> kPageBits];
  if (page->version != version_) {
    Page* copy = new Page(*page);
    copy->version = version_;
    Retire(page, retired_->pages);
    page = copy;
  }
  ShardNode*& node = page->shards[shard & kPageMask];
  if (node->version != version_) {
    ShardNode* copy = ShardNode::New(node->log_capacity, version_);
    std::copy_n(node->slots(), node->capacity(), copy->slots());
    copy->size = node->size;
    Retire(node, retired_->shards);
    node = copy;
  }
  return node;
}

AnswerMap::ShardNode* AnswerMap::Resize(size_t shard, int log_capacity) {
  Page* page = pages_[shard >> kPageBits];
  ShardNode*& node = page->shards[shard & kPageMask];
  ShardNode* resized = ShardNode::New(log_capacity, version_);
  node->ForEach([resized](const Entry& entry) { resized->Place(entry); });
  Retire(node, retired_->shards);  // made since the last Freeze: freed now
  node = resized;
  page->log_capacity[shard & kPageMask] = static_cast<uint8_t>(log_capacity);
  return resized;
}

AnswerMap::ShardNode* AnswerMap::Reserve(size_t shard, size_t entries) {
  ShardNode* node = Mutable(shard);
  int log_capacity = std::max<int>(node->log_capacity, 3);  // 8 slots at least
  while (entries * 4 > (size_t{3} << log_capacity)) ++log_capacity;
  return log_capacity == node->log_capacity ? node : Resize(shard, log_capacity);
}

void AnswerMap::Insert(size_t shard, Entry entry) {
  Reserve(shard, ShardAt(shard).size + 1)->Place(entry);
}

bool AnswerMap::Replace(size_t shard, uint64_t hash, AnswerSetRef answers) {
  ShardNode* node = Mutable(shard);
  Entry& slot = node->slots()[Locate(node->slots(), node->capacity() - 1, hash, answers->key())];
  if (slot.answers == nullptr) {
    Insert(shard, Entry{hash, answers.Detach()});
    return true;
  }
  Retire(slot.answers);
  slot.answers = answers.Detach();
  return false;
}

void AnswerMap::Set(AnswerSetRef answers) {
  uint64_t hash = Hash(answers->key());
  if (Replace(ShardOf(hash), hash, std::move(answers))) ++size_;
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
      Reserve(s, ShardAt(s).size + (end - begin));
      for (uint32_t k = begin; k < end; ++k) {
        if (k + kAhead < sorted.size()) __builtin_prefetch(sorted[k + kAhead].second.get());
        if (Replace(s, sorted[k].first, std::move(sorted[k].second))) ++added[part];
      }
    }
  });
  for (size_t n : added) size_ += n;
}

void AnswerMap::Reserve(size_t keys) {
  // The shards themselves are sized when filled: SetAll knows how many
  // entries each gets (sizing them from an estimate here made them twice
  // too large as often as not).
  if (int bits = BitsFor(keys); bits != shard_bits_) Split(bits);
}

void AnswerMap::Warm(absl::Span<const uint64_t> hashes) const {
  constexpr size_t kChunk = 64;
  // The answers of a few instances lie in the first 512 bytes of a wire;
  // a larger answer costs its copy more than its first misses.
  constexpr size_t kWarmWireBytes = 512;
  const AnswerSet* found[kChunk];
  size_t sum = 0;  // of what is read, so that the reads stay
  for (size_t begin = 0; begin < hashes.size(); begin += kChunk) {
    size_t n = std::min(kChunk, hashes.size() - begin);
    for (size_t i = 0; i < n; ++i) {
      uint64_t hash = hashes[begin + i];
      size_t mask;
      const Entry* slots = SlotsOf(hash, &mask);
      found[i] = nullptr;
      for (size_t k = hash & mask; slots[k].answers != nullptr; k = (k + 1) & mask) {
        if (slots[k].hash == hash) {
          found[i] = slots[k].answers;
          break;
        }
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (found[i] != nullptr) sum += static_cast<uint8_t>(found[i]->key().back());
    }
    for (size_t i = 0; i < n; ++i) {
      if (found[i] != nullptr) sum += found[i]->Touch(kWarmWireBytes);
    }
  }
  asm volatile("" : : "r"(sum));
}

void AnswerMap::Erase(absl::string_view key) {
  if (Find(key) == nullptr) return;  // and so no shard or page to copy
  uint64_t hash = Hash(key);
  ShardNode* node = Mutable(ShardOf(hash));
  Entry* slots = node->slots();
  size_t mask = node->capacity() - 1;
  size_t hole = Locate(slots, mask, hash, key);
  Retire(slots[hole].answers);
  // Backward shift: each entry after the hole, up to the next empty slot,
  // moves into it unless its own probe starts after the hole (so that no
  // probe meets an empty slot before its key; no tombstones).
  for (size_t i = (hole + 1) & mask; slots[i].answers != nullptr; i = (i + 1) & mask) {
    size_t home = slots[i].hash & mask;
    bool reaches_hole = ((i - home) & mask) >= ((i - hole) & mask);
    if (reaches_hole) {
      slots[hole] = slots[i];
      hole = i;
    }
  }
  slots[hole] = Entry{0, nullptr};
  --node->size;
  --size_;
}

}  // namespace svcdns::catalog
