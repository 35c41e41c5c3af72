#ifndef SVCDNS_TESTS_SERVER_ALLOCATION_COUNTER_H_
#define SVCDNS_TESTS_SERVER_ALLOCATION_COUNTER_H_

#include <cstdint>

namespace svcdns::testing {

// False under sanitizers, which own malloc.
bool AllocationCountingAvailable();
// Heap allocations by any thread since the process started.
uint64_t AllocationCount();

}  // namespace svcdns::testing

#endif  // SVCDNS_TESTS_SERVER_ALLOCATION_COUNTER_H_
