// Counts every heap allocation in the process (malloc and, through it,
// operator new), so tests can prove the query path allocates nothing.
// glibc lets a program replace malloc; sanitizers replace it themselves, so
// under them the counter stays off.
#include "tests/server/allocation_counter.h"

#include <atomic>
#include <cstddef>

namespace svcdns::testing {
namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

bool AllocationCountingAvailable() {
#ifdef SVCDNS_SANITIZE
  return false;
#else
  return true;
#endif
}

uint64_t AllocationCount() { return g_allocations.load(); }

}  // namespace svcdns::testing

#ifndef SVCDNS_SANITIZE
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

void* malloc(size_t size) {
  svcdns::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(size_t n, size_t size) {
  svcdns::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) {
  svcdns::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
void* memalign(size_t alignment, size_t size) {
  svcdns::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
int posix_memalign(void** out, size_t alignment, size_t size) {
  *out = memalign(alignment, size);
  return *out ? 0 : 12;  // ENOMEM
}
}
#endif
