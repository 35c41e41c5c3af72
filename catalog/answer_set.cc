#include "catalog/answer_set.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace svcdns::catalog {

static_assert(alignof(RecordRef) <= alignof(AnswerSet) && alignof(SrvRecord) <= alignof(AnswerSet));

void AnswerDraft::Clear() {
  wire.clear();
  a.clear();
  aaaa.clear();
  txt.clear();
  ptr.clear();
  for (auto& records : srv) records.clear();
}

AnswerSetRef AnswerSet::Create(absl::string_view key, const AnswerDraft& draft) {
  return Allocate(key, &draft, false, nullptr);
}

AnswerSetRef AnswerSet::View(absl::string_view key, const AnswerDraft& draft,
                             const AnswerSetRef& parent) {
  parent->refs_.fetch_add(1, std::memory_order_relaxed);  // released with the view
  return Allocate(key, &draft, false, parent.get());
}

AnswerSetRef AnswerSet::Marker(absl::string_view key) {
  return Allocate(key, nullptr, true, nullptr);
}

const AnswerSet* AnswerSet::Parent() const {
  const AnswerSet* parent;
  std::memcpy(&parent, Tail(), sizeof parent);
  return parent;
}

uint32_t AnswerSet::Touch(size_t max_wire) const {
  constexpr size_t kLine = 64;
  uint32_t sum = 0;
  const char* tables = reinterpret_cast<const char*>(RefTable());
  for (const char* p = tables; p < Tail(); p += kLine) sum += static_cast<uint8_t>(*p);
  const char* wire = wire_data();
  size_t size = std::min<size_t>(wire_size_, max_wire);
  for (size_t offset = 0; offset < size; offset += kLine) sum += static_cast<uint8_t>(wire[offset]);
  return sum;
}

AnswerSetRef AnswerSet::Allocate(absl::string_view key, const AnswerDraft* draft, bool marker,
                                 const AnswerSet* parent) {
  static const AnswerDraft kEmpty;
  const AnswerDraft& d = draft != nullptr ? *draft : kEmpty;
  const std::vector<RecordRef>* tables[4] = {&d.a, &d.aaaa, &d.txt, &d.ptr};
  size_t refs = 0, srvs = 0;
  for (const auto* table : tables) refs += table->size();
  for (const auto& records : d.srv) srvs += records.size();
  size_t bytes = sizeof(AnswerSet) + PaddedKeySize(key.size()) + refs * sizeof(RecordRef) +
                 srvs * sizeof(SrvRecord) + (parent != nullptr ? sizeof parent : d.wire.size());
  void* memory = ::operator new(bytes);
  auto* set = new (memory) AnswerSet();
  set->wire_size_ = static_cast<uint32_t>(parent != nullptr ? parent->wire_size_ : d.wire.size());
  set->key_size_ = static_cast<uint16_t>(key.size());
  set->marker_ = marker;
  set->view_ = parent != nullptr;
  char* out = reinterpret_cast<char*>(set + 1);
  auto append = [&out](const void* from, size_t size) {
    if (size != 0) std::memcpy(out, from, size);  // an empty vector's data() may be null
    out += size;
  };
  append(key.data(), key.size());
  out += PaddedKeySize(key.size()) - key.size();
  for (int t = 0; t < 4; ++t) {
    set->ref_counts_[t] = static_cast<uint32_t>(tables[t]->size());
    append(tables[t]->data(), tables[t]->size() * sizeof(RecordRef));
  }
  for (size_t i = 0; i < kMaxDomains; ++i) {
    set->srv_counts_[i] = static_cast<uint32_t>(d.srv[i].size());
    append(d.srv[i].data(), d.srv[i].size() * sizeof(SrvRecord));
  }
  if (parent != nullptr) {
    append(&parent, sizeof parent);
  } else {
    append(d.wire.data(), d.wire.size());
  }
  return AnswerSetRef(set);
}

void AnswerSetRef::Release() {
  if (set_ == nullptr || set_->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Trivially destructible apart from the counter: free the one allocation
  // (and a view's reference to its parent).
  AnswerSetRef parent(set_->view_ ? const_cast<AnswerSet*>(set_->Parent()) : nullptr);
  set_->~AnswerSet();
  ::operator delete(const_cast<AnswerSet*>(set_));
  set_ = nullptr;
}

}  // namespace svcdns::catalog
