// Splitting a large one-off piece of work (the first build of a catalog of a
// million instances) over the CPUs this process may run on. Small work stays
// on the caller's thread: a thread costs more than a small build.
#ifndef SVCDNS_BASE_PARALLEL_H_
#define SVCDNS_BASE_PARALLEL_H_

#include "absl/functional/function_ref.h"

namespace svcdns {

// The CPUs in this process's affinity mask (taskset, cgroups' cpusets), at
// least 1: a server pinned to one CPU gains nothing from a second thread.
int UsableCpus();

// Calls part(i) for every i in [0, parts): part 0 on the caller's thread,
// the others on threads of their own; returns when all have.
void RunInParallel(int parts, absl::FunctionRef<void(int)> part);

}  // namespace svcdns

#endif  // SVCDNS_BASE_PARALLEL_H_
