#include "agent/check_runner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/check_probe.h"
#include "base/log.h"

namespace svcdns::agent {

using catalog::Health;
using internal::ProbeResult;

namespace {

bool HasProbe(CheckKind kind) {
  return kind == CheckKind::kScript || kind == CheckKind::kHttp ||
         kind == CheckKind::kTcp;
}

// At least 1 ms: libuv counts in milliseconds.
uint64_t Millis(absl::Duration d) {
  return static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

std::string Truncated(std::string output) {
  if (output.size() > internal::kMaxOutput) output.resize(internal::kMaxOutput);
  return output;
}

absl::Status Validate(const CheckDefinition& def) {
  const std::string& id = def.check.id;
  if (id.empty()) return absl::InvalidArgumentError("check without an id");
  switch (def.kind) {
    case CheckKind::kScript:
      if (def.args.empty() || def.args[0].empty()) {
        return absl::InvalidArgumentError(absl::StrCat("check ", id, ": empty args"));
      }
      break;
    case CheckKind::kHttp:
      if (def.http.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("check ", id, ": empty http"));
      }
      break;
    case CheckKind::kTcp:
      if (def.tcp.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("check ", id, ": empty tcp"));
      }
      break;
    case CheckKind::kTtl:
      if (def.ttl <= absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("check ", id, ": ttl must be positive"));
      }
      break;
    case CheckKind::kNone:
      break;
  }
  if (HasProbe(def.kind) && def.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("check ", id, ": interval must be positive"));
  }
  return absl::OkStatus();
}

}  // namespace

struct CheckRunner::Entry {
  CheckRunner* runner;
  CheckDefinition def;
  uint64_t serial;
  CheckStatus state;
  uv_timer_t* timer = nullptr;  // probe ticks, or the TTL
  internal::ProbeRun* running = nullptr;
  uint64_t next_due_ms = 0;  // the loop time of the next tick
  int successes = 0;         // consecutive passing or warning results
  int failures = 0;          // consecutive critical results
  std::string last_ttl_output;
  // The output the listener last heard of (or the definition's, at Add),
  // and when.
  std::string notified_output;
  absl::Time notified_at;
};

CheckRunner::CheckRunner(uv_loop_t* loop, Listener on_change)
    : CheckRunner(loop, std::move(on_change), Options()) {}

CheckRunner::CheckRunner(uv_loop_t* loop, Listener on_change, Options options)
    : loop_(loop),
      listener_(std::move(on_change)),
      options_(options),
      random_(std::random_device()()) {
  notify_timer_ = new uv_timer_t;
  uv_timer_init(loop_, notify_timer_);
  notify_timer_->data = this;
}

CheckRunner::~CheckRunner() { Close(); }

void CheckRunner::Close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [id, entry] : checks_) Stop(entry.get());
  checks_.clear();
  notices_.clear();
  internal::CloseOwnedHandle(notify_timer_);
  notify_timer_ = nullptr;
  if (curl_ != nullptr) internal::CloseCurlMulti(curl_);
  curl_ = nullptr;
}

absl::Status CheckRunner::Add(const CheckDefinition& def) {
  if (closed_) return absl::FailedPreconditionError("check runner closed");
  if (absl::Status s = Validate(def); !s.ok()) return s;
  Remove(def.check.id);
  auto owned = std::make_unique<Entry>();
  Entry* e = owned.get();
  e->runner = this;
  e->def = def;
  if (e->def.timeout <= absl::ZeroDuration()) e->def.timeout = absl::Seconds(10);
  e->serial = next_serial_++;
  e->state.id = def.check.id;
  e->state.status = def.check.status;
  e->state.output = Truncated(def.check.output);
  e->notified_output = e->state.output;  // registered with it
  e->notified_at = absl::Now();
  if (e->state.status == Health::kCritical) e->state.critical_since = absl::Now();
  checks_[def.check.id] = std::move(owned);

  if (HasProbe(def.kind) || def.kind == CheckKind::kTtl) {
    e->timer = new uv_timer_t;
    uv_timer_init(loop_, e->timer);
    e->timer->data = e;
  }
  if (HasProbe(def.kind)) {
    Schedule(e, /*first=*/true);
  } else if (def.kind == CheckKind::kTtl) {
    uv_timer_start(e->timer, [](uv_timer_t* t) {
      auto* e = static_cast<Entry*>(t->data);
      e->runner->OnTtlExpired(e);
    }, Millis(def.ttl), 0);
  }
  SVCDNS_LOG(kDebug, "check_added", "check=", Quote(def.check.id),
             " kind=", CheckKindName(def.kind));
  return absl::OkStatus();
}

bool CheckRunner::Remove(const std::string& check_id) {
  auto it = checks_.find(check_id);
  if (it == checks_.end()) return false;
  Stop(it->second.get());
  checks_.erase(it);
  return true;
}

void CheckRunner::Stop(Entry* e) {
  if (e->running != nullptr) e->running->Cancel();
  e->running = nullptr;
  internal::CloseOwnedHandle(e->timer);
  e->timer = nullptr;
}

void CheckRunner::Schedule(Entry* e, bool first) {
  const uint64_t interval = Millis(e->def.interval);
  const uint64_t now = uv_now(loop_);
  if (first) {
    uint64_t span = interval;
    if (options_.max_stagger < e->def.interval) {
      span = static_cast<uint64_t>(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(options_.max_stagger)));
    }
    uint64_t stagger = span == 0 ? 0 : random_() % span;
    e->next_due_ms = now + stagger;
  } else {
    e->next_due_ms += interval;
    if (e->next_due_ms <= now) {  // the loop was late: skip the missed ticks
      e->next_due_ms += ((now - e->next_due_ms) / interval + 1) * interval;
    }
  }
  uv_timer_start(e->timer, [](uv_timer_t* t) {
    auto* e = static_cast<Entry*>(t->data);
    e->runner->OnTick(e);
  }, e->next_due_ms - now, 0);
}

void CheckRunner::OnTick(Entry* e) {
  if (e->running == nullptr) {  // else the previous run goes on: skip this tick
    internal::ProbeDone done = [this, e](ProbeResult result) {
      OnProbeResult(e, std::move(result));
    };
    switch (e->def.kind) {
      case CheckKind::kScript:
        e->running = internal::StartScriptRun(loop_, e->def, std::move(done));
        break;
      case CheckKind::kHttp:
        if (curl_ == nullptr) curl_ = internal::NewCurlMulti(loop_);
        e->running = internal::StartHttpRun(curl_, e->def, std::move(done));
        break;
      case CheckKind::kTcp:
        e->running = internal::StartTcpRun(loop_, e->def, std::move(done));
        break;
      default:
        break;
    }
  }
  Schedule(e, /*first=*/false);
}

void CheckRunner::OnProbeResult(Entry* e, ProbeResult result) {
  e->running = nullptr;
  ++e->state.runs;
  // Consul's StatusHandler: warning counts as a success.
  if (result.status != Health::kCritical) {
    ++e->successes;
    e->failures = 0;
    if (e->successes < e->def.success_before_passing) return;
  } else {
    ++e->failures;
    e->successes = 0;
    if (e->failures < e->def.failures_before_critical) return;
  }
  SetStatus(e, result.status, std::move(result.output));
}

void CheckRunner::OnTtlExpired(Entry* e) {
  std::string output = "TTL expired";
  if (!e->last_ttl_output.empty()) {
    absl::StrAppend(&output, " (last output before timeout follows): ",
                    e->last_ttl_output);
  }
  SVCDNS_LOG(kWarn, "check_ttl_expired", "check=", Quote(e->state.id));
  SetStatus(e, Health::kCritical, std::move(output));
}

absl::Status CheckRunner::UpdateTtl(const std::string& check_id, Health status,
                                    const std::string& output) {
  auto it = checks_.find(check_id);
  if (it == checks_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown check ", check_id));
  }
  Entry* e = it->second.get();
  if (HasProbe(e->def.kind)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "check ", check_id, " is a ", CheckKindName(e->def.kind),
        " check: only TTL checks and checks without a probe can be updated"));
  }
  if (e->def.kind == CheckKind::kTtl) {
    e->last_ttl_output = Truncated(output);
    uv_timer_start(e->timer, [](uv_timer_t* t) {
      auto* e = static_cast<Entry*>(t->data);
      e->runner->OnTtlExpired(e);
    }, Millis(e->def.ttl), 0);
  }
  SetStatus(e, status, output);
  return absl::OkStatus();
}

void CheckRunner::SetStatus(Entry* e, Health status, std::string output) {
  output = Truncated(std::move(output));
  absl::Time now = absl::Now();
  bool status_changed = status != e->state.status;
  if (status_changed) {
    if (status == Health::kCritical) {
      e->state.critical_since = now;
    } else {
      e->state.critical_since = absl::InfiniteFuture();
    }
    SVCDNS_LOG(kInfo, "check_status", "check=", Quote(e->state.id),
               " status=", catalog::HealthName(status));
  }
  if (status_changed || (output != e->notified_output &&
                         now - e->notified_at >= options_.output_sync_interval)) {
    e->notified_output = output;
    e->notified_at = now;
    notices_.push_back({e->serial, e->state.id, status, output});
    if (notices_.size() == 1) {
      uv_timer_start(notify_timer_, [](uv_timer_t* t) {
        static_cast<CheckRunner*>(t->data)->DeliverNotices();
      }, 0, 0);
    }
  }
  e->state.status = status;
  e->state.output = std::move(output);
}

void CheckRunner::DeliverNotices() {
  std::vector<Notice> notices;
  notices.swap(notices_);
  for (Notice& n : notices) {
    if (closed_) return;
    auto it = checks_.find(n.id);
    if (it == checks_.end() || it->second->serial != n.serial) continue;
    if (listener_) listener_(n.id, n.status, n.output);
  }
}

std::optional<CheckStatus> CheckRunner::Get(const std::string& check_id) const {
  auto it = checks_.find(check_id);
  if (it == checks_.end()) return std::nullopt;
  return it->second->state;
}

std::vector<CheckStatus> CheckRunner::Statuses() const {
  std::vector<CheckStatus> out;
  out.reserve(checks_.size());
  for (const auto& [id, e] : checks_) out.push_back(e->state);
  return out;
}

absl::Time CheckRunner::CriticalSince(const std::string& check_id) const {
  auto it = checks_.find(check_id);
  if (it == checks_.end()) return absl::InfiniteFuture();
  return it->second->state.critical_since;
}

uint64_t CheckRunner::RunCount(const std::string& check_id) const {
  auto it = checks_.find(check_id);
  return it == checks_.end() ? 0 : it->second->state.runs;
}

}  // namespace svcdns::agent
