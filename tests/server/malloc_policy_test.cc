#include "server/malloc_policy.h"

#include <malloc.h>

#include <cstdlib>
#include <vector>

#include <gtest/gtest.h>

#include "tests/server/allocation_counter.h"

namespace svcdns::server {
namespace {

// glibc's defaults would map a 4 MB block on its own, and give an 8 MB free
// top of the heap back to the kernel at once: each an unmapping that
// flushes the TLB of the core a DNS worker shares (malloc_policy.h).
TEST(MallocPolicyTest, FreedMemoryStaysMappedForReuse) {
  if (!testing::AllocationCountingAvailable()) GTEST_SKIP() << "sanitizers own malloc";
  KeepFreedMemoryMapped();

  size_t own_mappings = mallinfo2().hblkhd;
  void* large = std::malloc(size_t{4} << 20);
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(mallinfo2().hblkhd, own_mappings) << "a 4 MB block got a mapping of its own";
  std::free(large);

  // Small blocks at the top of the main heap (this thread's), freed from
  // the lowest up: each merges with the one before, the last with the top.
  constexpr size_t kBlocks = 8192, kBlockBytes = 1024;
  std::vector<void*> blocks(kBlocks);
  for (void*& b : blocks) b = std::malloc(kBlockBytes);
  for (void* b : blocks) std::free(b);
  EXPECT_GE(mallinfo2().keepcost, kBlocks * kBlockBytes * 3 / 4)
      << "the freed top of the heap went back to the kernel";
}

}  // namespace
}  // namespace svcdns::server
