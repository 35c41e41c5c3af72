// Readiness for systemd (Type=notify) through libsystemd's sd_notify; does
// nothing when not started by systemd (no NOTIFY_SOCKET).
#ifndef SVCDNS_BASE_SYSTEMD_NOTIFY_H_
#define SVCDNS_BASE_SYSTEMD_NOTIFY_H_

#include "absl/strings/string_view.h"

namespace svcdns {

void NotifyReady(absl::string_view status);
void NotifyReloading();
void NotifyStopping();

}  // namespace svcdns

#endif  // SVCDNS_BASE_SYSTEMD_NOTIFY_H_
