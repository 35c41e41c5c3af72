#include "server/malloc_policy.h"

#include <malloc.h>

#include "base/log.h"

namespace svcdns::server {

void KeepFreedMemoryMapped() {
  // (Setting either also stops glibc adjusting them itself.)
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kOwnMappingThreshold)) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(kHeapTrimThreshold)) != 1) {
    SVCDNS_LOG(kDebug, "malloc_policy_refused", "");  // a malloc without these knobs
  }
}

}  // namespace svcdns::server
