// A list that copies in O(size / 32): its items are held in chunks of 32,
// which copies share until one of them changes (the chunk is copied first).
//
// The store makes a node's next state from a copy of its last on every
// update: a node of a thousand services copies 32 chunk pointers rather
// than a thousand items (each a reference count, far apart in memory), and
// the snapshot builder skips whole chunks that two states share.
#ifndef SVCDNS_CATALOG_CHUNKED_LIST_H_
#define SVCDNS_CATALOG_CHUNKED_LIST_H_

#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

namespace svcdns::catalog {

template <typename T>
class ChunkedList {
 public:
  static constexpr size_t kChunkBits = 5;
  static constexpr size_t kChunkSize = size_t{1} << kChunkBits;

  using value_type = T;
  using size_type = size_t;

  // Read-only, whatever the list's constness: changing an item is explicit
  // (operator[] on a list that is not const), never a side effect of a scan.
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;

    const_iterator() = default;
    reference operator*() const { return (*list_)[index_]; }
    pointer operator->() const { return &(*list_)[index_]; }
    reference operator[](difference_type n) const { return (*list_)[index_ + n]; }
    const_iterator& operator++() { ++index_; return *this; }
    const_iterator operator++(int) { const_iterator old = *this; ++index_; return old; }
    const_iterator& operator--() { --index_; return *this; }
    const_iterator operator--(int) { const_iterator old = *this; --index_; return old; }
    const_iterator& operator+=(difference_type n) { index_ += n; return *this; }
    const_iterator& operator-=(difference_type n) { index_ -= n; return *this; }
    friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
    friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
    friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
      return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.index_ == b.index_;
    }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) {
      return a.index_ <=> b.index_;
    }

   private:
    friend class ChunkedList;
    const_iterator(const ChunkedList* list, size_t index) : list_(list), index_(index) {}
    const ChunkedList* list_ = nullptr;
    size_t index_ = 0;
  };
  using iterator = const_iterator;

  ChunkedList() = default;
  ChunkedList(std::initializer_list<T> items) { assign(items.begin(), items.end()); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& operator[](size_t i) const { return (*chunks_[i >> kChunkBits])[i & kMask]; }
  // The item to change: its chunk is copied first if another list shares it.
  T& operator[](size_t i) { return Own(i >> kChunkBits)[i & kMask]; }
  const T& at(size_t i) const {
    if (i >= size_) std::abort();  // no exceptions here: a bug to stop at
    return (*this)[i];
  }
  const T& front() const { return (*this)[0]; }
  const T& back() const { return (*this)[size_ - 1]; }
  T& back() { return (*this)[size_ - 1]; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

  void push_back(T item) {
    if ((size_ & kMask) == 0) chunks_.push_back(std::make_shared<Chunk>());
    Own(chunks_.size() - 1).push_back(std::move(item));
    ++size_;
  }
  template <typename... Args>
  void emplace_back(Args&&... args) {
    push_back(T(std::forward<Args>(args)...));
  }
  void pop_back() {
    if ((--size_ & kMask) == 0) {
      chunks_.pop_back();  // its only item: dropped, not copied first
    } else {
      Own(chunks_.size() - 1).pop_back();
    }
  }
  // Removes the item at `at`; those after it move up (O(size - at)).
  const_iterator erase(const_iterator at) {
    for (size_t i = at.index_; i + 1 < size_; ++i) (*this)[i] = std::as_const(*this)[i + 1];
    pop_back();
    return {this, at.index_};
  }
  void clear() {
    chunks_.clear();
    size_ = 0;
  }
  void reserve(size_t n) { chunks_.reserve((n + kMask) >> kChunkBits); }
  template <typename It>
  void assign(It first, It last) {
    clear();
    for (; first != last; ++first) push_back(T(*first));
  }

  // Whether the chunk holding item i is the same object in both lists
  // (and so are its items).
  bool SharesChunkAt(const ChunkedList& other, size_t i) const {
    size_t c = i >> kChunkBits;
    return c < chunks_.size() && c < other.chunks_.size() && chunks_[c] == other.chunks_[c];
  }

  bool operator==(const ChunkedList& other) const {
    if (size_ != other.size_) return false;
    for (size_t c = 0; c < chunks_.size(); ++c) {
      if (chunks_[c] != other.chunks_[c] && *chunks_[c] != *other.chunks_[c]) return false;
    }
    return true;
  }

 private:
  static constexpr size_t kMask = kChunkSize - 1;
  using Chunk = std::vector<T>;

  // The chunk to change, copied first unless this list is its only owner.
  // (Lists are changed only on the thread that owns them, so no one can
  // come to share the chunk meanwhile.)
  Chunk& Own(size_t c) {
    std::shared_ptr<Chunk>& chunk = chunks_[c];
    if (chunk.use_count() != 1) chunk = std::make_shared<Chunk>(*chunk);
    return *chunk;
  }

  std::vector<std::shared_ptr<Chunk>> chunks_;
  size_t size_ = 0;
};

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_CHUNKED_LIST_H_
