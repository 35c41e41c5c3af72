// The lookup table of a Snapshot: lookup key -> compiled answers. It is
// persistent: split into small shards, which pages of shard pointers share
// between successive versions. Publishing a change copies the map's page
// pointers, then only the pages and shards it touches (a few dozen entries
// each), instead of the whole table.
//
// Pages, shards and entries carry no reference counts (copying a page would
// touch each of its 64 shards, and copying a shard each of its answer sets,
// all far apart in memory: most of what a publication cost). The builder's
// map is the one that changes, and holds one reference to each answer set
// it shows; each version it hands out (Freeze) shares its pages and shards
// as they are. A page, shard or answer set the builder replaces afterwards
// is retired, not freed: it is freed once every version that may still
// show it is gone.
#ifndef SVCDNS_CATALOG_ANSWER_MAP_H_
#define SVCDNS_CATALOG_ANSWER_MAP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "catalog/answer_set.h"

namespace svcdns::catalog {

class AnswerMap {
 public:
  // An entry: the answers and their key's hash (the answers hold the key).
  // A shard copies its entries without reading the answers: no key to
  // hash again, no reference count to touch (each a cache miss of its
  // own: most of what copying a shard cost). No answers: an empty slot.
  struct Entry {
    uint64_t hash;
    const AnswerSet* answers;
  };

  // The shard count follows the size, so that a shard holds 8 to 32
  // entries while a small map stays one page: from 16 shards up to 65536
  // (~30 entries each at 2M keys, a million instances).
  static constexpr int kMinShardBits = 4;
  static constexpr int kMaxShardBits = 16;
  static constexpr int kMaxPerShardBits = 5;  // 32
  // Shards per page: a version of the map is its page pointers (1024 at
  // 65536 shards), and a change copies a page of 64 shard pointers.
  static constexpr int kPageBits = 6;

  AnswerMap();  // empty, and editable
  ~AnswerMap();
  AnswerMap(AnswerMap&& other) noexcept;
  AnswerMap& operator=(AnswerMap&& other) noexcept;
  AnswerMap(const AnswerMap&) = delete;
  AnswerMap& operator=(const AnswerMap&) = delete;

  // A read-only version of this map as it is now, sharing every page and
  // shard. What this map changes later is copied first, so the version
  // never changes; it stays valid however long it lives, in any order
  // with the other versions and this map.
  AnswerMap Freeze();

  // The answers for `key`, or nullptr. Allocates nothing, and touches no
  // reference count: readers hold the map alive by other means (RCU).
  const AnswerSet* Find(absl::string_view key) const {
    uint64_t hash = Hash(key);  // hashed once: its top picks the shard, its bottom the slot
    size_t mask;
    const Entry* slots = SlotsOf(hash, &mask);
    return slots[Locate(slots, mask, hash, key)].answers;
  }
  size_t size() const { return size_; }

  // Reads what Find() will read for each of a batch of lookups, given the
  // hashes of their keys (KeyHash): first every slot, then every answer
  // set's header and key, then its record tables and the start of its wire
  // (AnswerSet::Touch), so that the cache misses of each step overlap
  // instead of following one another, one lookup after the other. (Loads,
  // not prefetch instructions: on the machines measured, prefetching left
  // the misses where they were.) Any hash will do.
  static uint64_t KeyHash(absl::string_view key) { return Hash(key); }
  void Warm(absl::Span<const uint64_t> hashes) const;

  // Edits, on the builder's map only (not on a frozen version).
  // Adds or replaces the answers for answers->key().
  void Set(AnswerSetRef answers);
  // Set() for each, with distinct keys. A large batch (a first build) is
  // set shard after shard, each filled while it is in cache, and shared
  // out by pages over `parts` threads.
  void SetAll(std::vector<AnswerSetRef> sets, int parts = 1);
  // As many shards as `keys` keys need: a large first build then does
  // not split them again and again as it goes.
  void Reserve(size_t keys);
  void Erase(absl::string_view key);

 private:
  static constexpr size_t kPageMask = (size_t{1} << kPageBits) - 1;
  // Each stamped with the edit version that made it: the builder's map
  // edits in place what it made since its last Freeze, and copies the rest.
  // Version 0: the shared empty shard and page, never freed.
  //
  // A shard is an open-addressing table with linear probing, its slots in
  // the same block as this header. (absl's flat_hash_set costs a lookup
  // three reads that wait on each other, the set, its control bytes and
  // its slot, each a cache miss under load; here it is one, the slot.)
  // At most 3/4 full, so that a probe always ends at an empty slot.
  struct ShardNode {
    uint64_t version;
    uint32_t size;
    uint8_t log_capacity;
    size_t capacity() const { return size_t{1} << log_capacity; }
    Entry* slots() { return reinterpret_cast<Entry*>(this + 1); }
    const Entry* slots() const { return reinterpret_cast<const Entry*>(this + 1); }
    // Empty, with 2^log_capacity slots after the header, in one block
    // (which `delete` frees as a whole).
    static ShardNode* New(int log_capacity, uint64_t version);
    static void operator delete(void* node) { ::operator delete(node); }
    // Puts an entry whose key it does not hold in the first free slot of
    // its probe (there is one: see above).
    void Place(Entry entry);
    // Calls f with each entry.
    template <typename F>
    void ForEach(F f) const {
      for (size_t i = 0; i < capacity(); ++i) {
        if (slots()[i].answers != nullptr) f(slots()[i]);
      }
    }
  };
  struct Page {
    ShardNode* shards[size_t{1} << kPageBits];
    // Each shard's log_capacity again, for lookups (see SlotsOf).
    uint8_t log_capacity[size_t{1} << kPageBits];
    uint64_t version;
  };
  struct Retired;
  struct FrozenTag {};
  explicit AnswerMap(FrozenTag) {}

  static uint64_t Hash(absl::string_view key) { return absl::Hash<absl::string_view>{}(key); }
  // The table of the shard for `hash`, and its size - 1. Both come from
  // the page: the first read of the shard is then the slot itself, not a
  // header before it.
  const Entry* SlotsOf(uint64_t hash, size_t* mask) const {
    size_t shard = ShardOf(hash);
    const Page& page = *pages_[shard >> kPageBits];
    *mask = (size_t{1} << page.log_capacity[shard & kPageMask]) - 1;
    return page.shards[shard & kPageMask]->slots();
  }
  // The slot holding `key` in a shard's table, or else the empty one that
  // ends its probe.
  static size_t Locate(const Entry* slots, size_t mask, uint64_t hash, absl::string_view key) {
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots[i].answers == nullptr || (slots[i].hash == hash && slots[i].answers->key() == key)) {
        return i;
      }
    }
  }
  size_t ShardOf(uint64_t hash) const { return hash >> (64 - shard_bits_); }
  size_t shard_count() const { return size_t{1} << shard_bits_; }
  const ShardNode& ShardAt(size_t shard) const {
    return *pages_[shard >> kPageBits]->shards[shard & kPageMask];
  }
  // The shard bits for `keys` keys: at most 32 a shard, up to the maximum.
  int BitsFor(size_t keys) const;
  // Splits every shard in 4 (a map that grew past 32 entries a shard):
  // O(size), once per fourfold growth.
  void Split(int bits);
  // The shard to edit: its page and itself copied first unless made since
  // the last Freeze. Threads may edit shards of different pages at once.
  ShardNode* Mutable(size_t shard);
  // Makes the (mutable) shard's table 2^log_capacity slots: it moves.
  ShardNode* Resize(size_t shard, int log_capacity);
  // Room in the shard for `entries` entries in all, without growing.
  ShardNode* Reserve(size_t shard, size_t entries);
  // Adds an entry whose key the shard does not hold.
  void Insert(size_t shard, Entry entry);
  // Puts the answers in the shard, in place of any for the same key; true
  // if the key is new.
  bool Replace(size_t shard, uint64_t hash, AnswerSetRef answers);
  // A page or shard the builder's map no longer shows: freed now if no
  // version shows it either, or else (put on `list`, one of retired_'s)
  // once they are gone.
  template <typename T>
  void Retire(T* item, std::vector<T*>& list);
  // Answers the builder's map no longer shows: released once no version
  // that may show them is left. (The builder's map holds one reference
  // to each answer set it shows; its versions hold none.)
  void Retire(const AnswerSet* answers);
  // Retires the pages and every shard on them.
  void RetirePages(const std::vector<Page*>& pages);
  // Retires every page and shard of the builder's map; a frozen one only
  // lets go of its retired list.
  void RetireAll();

  int shard_bits_ = kMinShardBits;
  std::vector<Page*> pages_;  // shard i: pages_[i >> kPageBits]
  size_t size_ = 0;
  // The builder's map: the version its edits stamp (0 in a frozen one).
  uint64_t version_ = 0;
  // What is retired since the last Freeze; the versions taken before hold
  // it (a frozen one holds the list begun when it was taken).
  std::shared_ptr<Retired> retired_;
  std::mutex retire_mu_;  // SetAll's threads retire at once
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_ANSWER_MAP_H_
