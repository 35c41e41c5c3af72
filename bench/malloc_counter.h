// Replaces malloc and free (glibc lets a program do that; operator new goes
// through malloc) to count allocations and the bytes live on the heap.
// Defines the C allocation functions: include it from exactly one .cc of an
// executable. Benchmarks are never built under sanitizers, which own malloc.
#ifndef SVCDNS_BENCH_MALLOC_COUNTER_H_
#define SVCDNS_BENCH_MALLOC_COUNTER_H_

#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace svcdns::bench {

inline std::atomic<uint64_t> g_allocations{0};
inline std::atomic<int64_t> g_live_bytes{0};
// Byte tracking costs a malloc_usable_size per malloc and free (several
// percent of an allocation-heavy build), so it is on only when asked for.
inline std::atomic<bool> g_track_bytes{false};

// While alive, LiveHeapBytes() follows allocations and frees. Blocks
// allocated outside a tracker and freed inside it count negative.
class TrackHeapBytes {
 public:
  TrackHeapBytes() { g_track_bytes.store(true, std::memory_order_relaxed); }
  ~TrackHeapBytes() { g_track_bytes.store(false, std::memory_order_relaxed); }
  TrackHeapBytes(const TrackHeapBytes&) = delete;
  TrackHeapBytes& operator=(const TrackHeapBytes&) = delete;
};

// Every malloc, calloc, realloc and aligned allocation so far.
inline uint64_t AllocationCount() { return g_allocations.load(std::memory_order_relaxed); }
// Usable bytes allocated minus freed while a TrackHeapBytes was alive.
inline int64_t LiveHeapBytes() { return g_live_bytes.load(std::memory_order_relaxed); }

inline void* Counted(void* p) {
  if (p != nullptr) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (g_track_bytes.load(std::memory_order_relaxed))
      g_live_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)),
                           std::memory_order_relaxed);
  }
  return p;
}

inline void Released(void* p) {
  if (p != nullptr && g_track_bytes.load(std::memory_order_relaxed)) {
    g_live_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)),
                           std::memory_order_relaxed);
  }
}

}  // namespace svcdns::bench

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t size) { return svcdns::bench::Counted(__libc_malloc(size)); }
void* calloc(size_t n, size_t size) { return svcdns::bench::Counted(__libc_calloc(n, size)); }
void* realloc(void* p, size_t size) {
  svcdns::bench::Released(p);
  void* q = __libc_realloc(p, size);
  if (q == nullptr && size != 0 && p != nullptr) {
    // Failed: the old block is still there.
    if (svcdns::bench::g_track_bytes.load(std::memory_order_relaxed))
      svcdns::bench::g_live_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)),
                                          std::memory_order_relaxed);
    return nullptr;
  }
  return svcdns::bench::Counted(q);
}
void* memalign(size_t alignment, size_t size) {
  return svcdns::bench::Counted(__libc_memalign(alignment, size));
}
void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
int posix_memalign(void** out, size_t alignment, size_t size) {
  void* p = memalign(alignment, size);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void free(void* p) {
  svcdns::bench::Released(p);
  __libc_free(p);
}
}

#endif  // SVCDNS_BENCH_MALLOC_COUNTER_H_
