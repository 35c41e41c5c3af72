#include "base/parallel.h"

#include <sched.h>

#include <thread>
#include <vector>

namespace svcdns {

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

void RunInParallel(int parts, absl::FunctionRef<void(int)> part) {
  std::vector<std::thread> helpers;
  helpers.reserve(parts > 1 ? parts - 1 : 0);
  for (int i = 1; i < parts; ++i) helpers.emplace_back([part, i] { part(i); });
  if (parts > 0) part(0);
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace svcdns
