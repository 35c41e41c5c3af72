// How the process's heap gives freed memory back to the kernel.
//
// glibc's defaults give back the free top of a heap as soon as it passes
// 128 KB, and map each block of 128 KB or more on its own (both thresholds
// rise only as such blocks are freed). Under churn the owner frees a little
// every few milliseconds (retired snapshots), so the heaps shrank and grew
// again all the time; each shrink, and each unmapped block, makes the kernel
// flush the TLB of the core it runs on, which it shares with a DNS worker.
// The worker's lookups, spread over a large answer map, then walk the page
// tables again (in a VM, both levels of them).
//
// Measured on one core shared by a worker under full load and 1,000
// updates/s (perf, 100k instances): AnswerMap::Find cost 20-38% more per
// query during the churn than before it with glibc's defaults, 6-9% more
// with these thresholds. Large builds still give their garbage back at once
// (CatalogOwner calls malloc_trim after them).
#ifndef SVCDNS_SERVER_MALLOC_POLICY_H_
#define SVCDNS_SERVER_MALLOC_POLICY_H_

#include <cstddef>

namespace svcdns::server {

// The free top of a heap is given back past this size...
inline constexpr size_t kHeapTrimThreshold = size_t{64} << 20;
// ...and blocks from this size up get a mapping of their own (glibc's own
// ceiling for the threshold it adjusts).
inline constexpr size_t kOwnMappingThreshold = size_t{32} << 20;

// Sets both for the whole process; call it before the threads start.
void KeepFreedMemoryMapped();

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_MALLOC_POLICY_H_
