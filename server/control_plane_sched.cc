#include "server/control_plane_sched.h"

#include <sched.h>

#include <cerrno>

#include "base/log.h"

namespace svcdns::server {

void RunAsControlPlane(const char* thread) {
  sched_param param{};
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
    SVCDNS_LOG(kDebug, "sched_batch_failed", "thread=", thread, " errno=", errno);
  }
}

}  // namespace svcdns::server
