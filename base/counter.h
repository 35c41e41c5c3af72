// A counter written by one thread and read by any: a relaxed load and store,
// never an atomic read-modify-write, so the hot path pays a plain add. Sums
// across writers happen at read time (a metrics scrape).
#ifndef SVCDNS_BASE_COUNTER_H_
#define SVCDNS_BASE_COUNTER_H_

#include <atomic>
#include <cstdint>

namespace svcdns {

class Counter {
 public:
  // Only from the owning thread.
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Set(uint64_t v) { value_.store(v, std::memory_order_relaxed); }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace svcdns

#endif  // SVCDNS_BASE_COUNTER_H_
