#include "base/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace svcdns {

void NotifyReady(absl::string_view status) {
  std::string message = absl::StrCat("READY=1\nSTATUS=", status);
  sd_notify(0, message.c_str());
}

void NotifyReloading() { sd_notify(0, "RELOADING=1"); }

void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

}  // namespace svcdns
