// Every record of one owner name (a service, a service and tag, a node, a
// reverse address), compiled to wire format in a single allocation: a small
// header, the lookup key, the record tables, then the wire bytes. (The key
// first: a lookup that compares it has the header in the same cache line.) A million
// instances make about two million of these, so their size and their
// allocation count are most of the snapshot's memory and build time.
#ifndef SVCDNS_CATALOG_ANSWER_SET_H_
#define SVCDNS_CATALOG_ANSWER_SET_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace svcdns::catalog {

// Served domains: the primary (--domain) and optionally --alt-domain.
inline constexpr size_t kMaxDomains = 2;

// A byte range of an AnswerSet's wire holding whole resource records.
struct RecordRef {
  uint32_t offset = 0;
  uint32_t size = 0;
};

// One SRV record and what the additional section needs for its target:
// 16 bytes, as a million instances have a few million of these.
struct SrvRecord {
  // The record (owner 0xC00C ... rdata with an uncompressed target), then
  // at once the target's address record with its owner left out (type,
  // class, ttl, rdlength, rdata).
  uint32_t offset;
  uint16_t size;
  uint8_t target_offset;  // where the target name starts inside the record
  uint8_t additional_size;
  // Instances with the same target are adjacent: [group_begin, group_end)
  // lets the responder add each target's address only once.
  uint32_t group_begin;
  uint32_t group_end;

  uint32_t target() const { return offset + target_offset; }
  uint16_t target_size() const { return static_cast<uint16_t>(size - target_offset); }
  uint32_t additional() const { return offset + size; }
};
static_assert(sizeof(SrvRecord) == 16);

// An AnswerSet being compiled: plain vectors, reused from one set to the next.
struct AnswerDraft {
  std::string wire;
  std::vector<RecordRef> a, aaaa, txt, ptr;
  std::vector<SrvRecord> srv[kMaxDomains];  // targets name the domain asked

  void Clear();
};

class AnswerSetRef;

// Records whose owner is the question name start with the compression
// pointer 0xC00C, so the responder copies them as they are.
class AnswerSet {
 public:
  // Compiled answers for `key`.
  static AnswerSetRef Create(absl::string_view key, const AnswerDraft& draft);
  // Answers whose records are some of `parent`'s: the draft's tables
  // point into the parent's wire (its own wire is empty), and the view
  // keeps the parent alive. A tag's answers are a view of its service's.
  static AnswerSetRef View(absl::string_view key, const AnswerDraft& draft,
                           const AnswerSetRef& parent);
  // A name that exists with no records (an empty non-terminal).
  static AnswerSetRef Marker(absl::string_view key);

  absl::string_view key() const { return {KeyData(), key_size_}; }
  bool marker() const { return marker_; }
  absl::Span<const RecordRef> a() const { return Refs(0); }
  absl::Span<const RecordRef> aaaa() const { return Refs(1); }
  absl::Span<const RecordRef> txt() const { return Refs(2); }
  absl::Span<const RecordRef> ptr() const { return Refs(3); }
  absl::Span<const SrvRecord> srv(size_t domain) const {
    size_t before = 0;
    for (size_t d = 0; d < domain; ++d) before += srv_counts_[d];
    return {SrvTable() + before, srv_counts_[domain]};
  }
  // The bytes the record tables point into (a view's: its parent's).
  const char* wire_data() const { return view_ ? Parent()->Tail() : Tail(); }
  absl::string_view wire() const { return {wire_data(), wire_size_}; }
  absl::string_view Bytes(RecordRef r) const { return wire().substr(r.offset, r.size); }

  // Reads one byte of each cache line an answer from this set reads (its
  // record tables, then up to `max_wire` bytes of the wire it copies) and
  // returns their sum, for AnswerMap::Warm.
  uint32_t Touch(size_t max_wire) const;

 private:
  friend class AnswerSetRef;
  AnswerSet() = default;
  static AnswerSetRef Allocate(absl::string_view key, const AnswerDraft* draft, bool marker,
                               const AnswerSet* parent);

  // Layout after the header: key bytes padded to 4, RecordRef[ref counts],
  // SrvRecord[srv counts], then the wire bytes (a view: its parent's
  // address, unaligned).
  static size_t PaddedKeySize(size_t key_size) { return (key_size + 3) & ~size_t{3}; }
  const char* KeyData() const { return reinterpret_cast<const char*>(this + 1); }
  const RecordRef* RefTable() const {
    return reinterpret_cast<const RecordRef*>(KeyData() + PaddedKeySize(key_size_));
  }
  absl::Span<const RecordRef> Refs(int table) const {
    size_t before = 0;
    for (int t = 0; t < table; ++t) before += ref_counts_[t];
    return {RefTable() + before, ref_counts_[table]};
  }
  const SrvRecord* SrvTable() const {
    size_t refs = 0;
    for (uint32_t n : ref_counts_) refs += n;
    return reinterpret_cast<const SrvRecord*>(RefTable() + refs);
  }
  const char* Tail() const {
    size_t srvs = 0;
    for (uint32_t n : srv_counts_) srvs += n;
    return reinterpret_cast<const char*>(SrvTable() + srvs);
  }
  const AnswerSet* Parent() const;

  mutable std::atomic<uint32_t> refs_{1};
  uint32_t wire_size_ = 0;
  uint32_t ref_counts_[4] = {};  // a, aaaa, txt, ptr
  uint32_t srv_counts_[kMaxDomains] = {};
  uint16_t key_size_ = 0;
  bool marker_ = false;
  bool view_ = false;
};

// A counted reference to an AnswerSet, shared by the snapshots (and the
// builder) that hold it. Readers on the hot path use plain pointers.
class AnswerSetRef {
 public:
  AnswerSetRef() = default;
  AnswerSetRef(const AnswerSetRef& other) : set_(other.set_) { Retain(); }
  AnswerSetRef(AnswerSetRef&& other) noexcept : set_(std::exchange(other.set_, nullptr)) {}
  AnswerSetRef& operator=(AnswerSetRef other) noexcept {
    std::swap(set_, other.set_);
    return *this;
  }
  ~AnswerSetRef() { Release(); }

  const AnswerSet* get() const { return set_; }
  const AnswerSet* operator->() const { return set_; }
  explicit operator bool() const { return set_ != nullptr; }

  // For owners that keep plain pointers (the answer map): gives up the
  // reference without releasing it, and takes one back.
  const AnswerSet* Detach() { return std::exchange(set_, nullptr); }
  static AnswerSetRef Adopt(const AnswerSet* set) { return AnswerSetRef(set); }

 private:
  friend class AnswerSet;
  explicit AnswerSetRef(const AnswerSet* set) : set_(set) {}
  void Retain() const {
    if (set_ != nullptr) set_->refs_.fetch_add(1, std::memory_order_relaxed);
  }
  void Release();

  const AnswerSet* set_ = nullptr;
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_ANSWER_SET_H_
