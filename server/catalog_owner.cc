#include "server/catalog_owner.h"

#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "catalog/catalog_file.h"
#include "server/uv_handle.h"

namespace svcdns::server {
namespace {

uint64_t Millis(absl::Duration d) {
  return static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Milliseconds(d)));
}

uint64_t CeilMillis(absl::Duration d) {
  return static_cast<uint64_t>(std::max<double>(0, std::ceil(absl::ToDoubleMilliseconds(d))));
}

template <typename T>
T* NewHandle(CatalogOwner* owner) {
  T* handle = new T;
  handle->data = owner;
  return handle;
}

}  // namespace

CatalogOwner::CatalogOwner(uv_loop_t* loop, const OwnerOptions& options,
                           const catalog::SnapshotOptions& snapshot_options,
                           catalog::SnapshotPublisher* publisher)
    : loop_(loop),
      options_(options),
      snapshot_options_(snapshot_options),
      publisher_(publisher),
      builder_(snapshot_options),
      store_(snapshot_options.datacenter),
      wake_(NewHandle<uv_async_t>(this)),
      queue_([this] {
        std::lock_guard<std::mutex> lock(wake_mu_);
        if (wake_ != nullptr) uv_async_send(wake_);
      }),
      coalesce_(NewHandle<uv_timer_t>(this)),
      expiry_(NewHandle<uv_timer_t>(this)),
      persist_(NewHandle<uv_timer_t>(this)),
      view_(NewHandle<uv_timer_t>(this)),
      reclaim_(NewHandle<uv_timer_t>(this)) {
  uv_async_init(loop_, wake_, [](uv_async_t* a) { static_cast<CatalogOwner*>(a->data)->Drain(); });
  wake_->data = this;
  uv_timer_init(loop_, coalesce_);
  uv_timer_init(loop_, expiry_);
  uv_timer_init(loop_, persist_);
  uv_timer_init(loop_, view_);
  uv_timer_init(loop_, reclaim_);
}

CatalogOwner::~CatalogOwner() {
  if (!closing_) Close();
}

absl::Status CatalogOwner::Restore() {
  if (options_.data_dir.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  std::string path = options_.data_dir + "/catalog.json";
  if (!std::filesystem::exists(path)) return absl::OkStatus();
  auto loaded = catalog::LoadCatalogFile(path);
  if (!loaded.ok()) {
    std::string aside = absl::StrCat(path, ".corrupt-", absl::ToUnixSeconds(absl::Now()));
    std::filesystem::rename(path, aside, ec);
    SVCDNS_LOG(kError, "data_file_corrupt", "path=", path, " moved_to=", aside,
               " error=", Quote(loaded.status().message()));
    return absl::OkStatus();
  }
  size_t nodes = loaded->nodes.size();
  store_.RestoreNodes(std::move(loaded->nodes), absl::Now());
  SVCDNS_LOG(kInfo, "data_file_loaded", "path=", path, " nodes=", nodes);
  ScheduleExpiry();
  return absl::OkStatus();
}

absl::Status CatalogOwner::SetFileNodes(std::vector<catalog::NodeState> nodes,
                                        uint64_t index_floor) {
  store_.SetFileNodes(std::move(nodes), index_floor);
  return Publish();
}

void CatalogOwner::Drain() {
  std::deque<StreamEvent> events = queue_.TakeAll();
  for (StreamEvent& event : events) Process(event);
}

void CatalogOwner::Process(StreamEvent& event) {
  absl::Time now = absl::Now();
  if (event.kind == StreamEvent::Kind::kEnded) {
    if (sinks_.erase(event.stream) > 0) {
      stats_.streams.Set(sinks_.size());
      store_.StreamEnded(event.stream, now);
      if (!closing_) ScheduleExpiry();
    }
    event.sink->Release();
    return;
  }
  if (closing_) return;  // its kEnded follows as the server shuts down
  switch (event.kind) {
    case StreamEvent::Kind::kHello: {
      auto previous = store_.Hello(event.stream, event.node, now);
      if (!previous.ok()) {
        stats_.rejected[static_cast<int>(previous.status().code()) % 17].Add();
        event.sink->Fail(previous.status());
        return;
      }
      stats_.applied.Add();
      if (*previous != 0) {
        auto it = sinks_.find(*previous);
        if (it != sinks_.end()) {
          it->second->Fail(absl::AbortedError(absl::StrCat(
              "node \"", event.node.name, "\" was taken over by another stream")));
          sinks_.erase(it);
          stats_.rejected[static_cast<int>(absl::StatusCode::kAborted)].Add();
        }
      }
      sinks_[event.stream] = event.sink;
      stats_.streams.Set(sinks_.size());
      SVCDNS_LOG(kInfo, "agent_connected", "node=", event.node.name,
                 " address=", event.node.address, " stream=", event.stream,
                 *previous != 0 ? " took_over=true" : "");
      event.sink->Welcome(options_.server_node, snapshot_options_.datacenter,
                          published_index_);
      MarkDirty();
      break;
    }
    case StreamEvent::Kind::kSync:
    case StreamEvent::Kind::kUpdate: {
      absl::Status status =
          event.kind == StreamEvent::Kind::kSync
              ? store_.Sync(event.stream, std::move(event.services), std::move(event.checks),
                            event.leaving, now)
              : store_.Update(event.stream, event.changes, now);
      if (!status.ok()) {
        stats_.rejected[static_cast<int>(status.code()) % 17].Add();
        event.sink->Fail(status);
        return;
      }
      stats_.applied.Add();
      pending_acks_.push_back({event.stream, event.sequence, now});
      MarkDirty();
      break;
    }
    case StreamEvent::Kind::kEnded:
      break;
  }
  event.sink->ReadNext();
}

void CatalogOwner::MarkDirty() {
  if (dirty_) return;
  dirty_ = true;
  // At most one publication per coalescing window: after a quiet spell at
  // once (once the events waiting are processed), under churn when the
  // window since the last one ends.
  PublishAt(published_at_ + options_.coalesce);
}

void CatalogOwner::PublishAt(absl::Time when) {
  // Publish() drains the queue first: what comes until then waits for it,
  // without waking this thread.
  queue_.WillTakeSoon();
  uv_timer_start(coalesce_, [](uv_timer_t* t) {
    auto* self = static_cast<CatalogOwner*>(t->data);
    if (auto s = self->Publish(); !s.ok()) {
      SVCDNS_LOG(kError, "publish_failed", "error=", Quote(s.message()));
    }
  }, CeilMillis(when - absl::Now()), 0);
}

absl::Status CatalogOwner::Publish() {
  // What arrived since the publication was due did not wake us. What it
  // changes is published below: no timer for it (dirty_), and none left
  // behind for a change that turns out to be none.
  dirty_ = true;
  Drain();
  dirty_ = false;
  uv_timer_stop(coalesce_);
  if (store_.index() != published_index_) {
    absl::Time start = absl::Now();
    // Only the nodes that changed are compiled again.
    for (auto& [key, state] : store_.TakeChanges()) builder_.SetNode(key, std::move(state));
    auto snapshot = builder_.Build(store_.index());
    if (!snapshot.ok()) return snapshot.status();
    size_t instances = (*snapshot)->instance_count;
    publisher_->Publish(*std::move(snapshot));
    // A large build (a load, a reload) leaves much freed memory behind: the
    // catalog file's parse, the previous snapshot, and the scratch of a
    // build shared out over several threads, each of which allocates from
    // an arena of its own. Give it back rather than hold it for good.
    constexpr size_t kLargeBuild = 100'000;  // answer sets: 30k+ instances
    if (builder_.compiled() >= kLargeBuild) {
      publisher_->Reclaim();
      malloc_trim(0);  // ~10 ms at 1M instances
    } else {
      ScheduleReclaim();
    }
    published_index_ = store_.index();
    published_at_ = absl::Now();
    stats_.publications.Add();
    stats_.index.Set(published_index_);
    stats_.instances.Set(instances);
    stats_.last_build_us.Set(absl::ToInt64Microseconds(absl::Now() - start));
    stats_.published_at_unix.Set(absl::ToUnixSeconds(absl::Now()));
    SVCDNS_LOG(kDebug, "snapshot_published", "index=", published_index_,
               " healthy_instances=", instances, " answer_sets_compiled=", builder_.compiled(),
               " build_ms=", absl::ToDoubleMilliseconds(absl::Now() - start));
    ScheduleView();
    // Under churn the next changes come within the window: take them when
    // it ends rather than be woken for the first of them now (one wake-up
    // per publication, not two). After a quiet window it ends unused.
    if (options_.coalesce > absl::ZeroDuration() && !closing_) {
      PublishAt(published_at_ + options_.coalesce);
    }
    // Persist at most persist_delay after a change, even while changes keep
    // coming (restarting the timer each time would starve it under churn).
    if (!options_.data_dir.empty() && !closing_ &&
        !uv_is_active(reinterpret_cast<uv_handle_t*>(persist_))) {
      uv_timer_start(persist_, [](uv_timer_t* t) { static_cast<CatalogOwner*>(t->data)->Persist(); },
                     Millis(options_.persist_delay), 0);
    }
  }
  // Everything acknowledged now is visible to every DNS worker.
  absl::Time acked = absl::Now();
  for (const PendingAck& ack : pending_acks_) {
    auto it = sinks_.find(ack.stream);
    if (it == sinks_.end()) continue;
    it->second->Ack(ack.sequence, published_index_);
    double ms = absl::ToDoubleMilliseconds(acked - ack.applied);
    size_t bucket = 0;
    while (bucket < 12 && ms > Stats::kAckBucketsMs[bucket]) ++bucket;
    stats_.ack_buckets[bucket].Add();
    stats_.ack_sum_us.Add(static_cast<uint64_t>(ms * 1000));
    stats_.ack_count.Add();
  }
  pending_acks_.clear();
  return absl::OkStatus();
}

void CatalogOwner::ScheduleReclaim() {
  constexpr size_t kMaxRetired = 64;
  constexpr uint64_t kReclaimDelayMs = 10;
  if (publisher_->retired() >= kMaxRetired) {
    uv_timer_stop(reclaim_);
    publisher_->Reclaim();
  } else if (!uv_is_active(reinterpret_cast<uv_handle_t*>(reclaim_))) {
    uv_timer_start(reclaim_, [](uv_timer_t* t) {
      static_cast<CatalogOwner*>(t->data)->publisher_->Reclaim();
    }, kReclaimDelayMs, 0);
  }
}

void CatalogOwner::ScheduleView() {
  if (index_callbacks_.empty() || closing_ ||
      uv_is_active(reinterpret_cast<uv_handle_t*>(view_))) {
    return;
  }
  // The view costs O(nodes) to make: under churn, refresh it at most once
  // per 50 times what the last one took (never more than ~2% of this loop),
  // at once when it is cheap.
  absl::Duration wait = view_made_at_ + 50 * view_cost_ - absl::Now();
  if (wait <= absl::ZeroDuration()) {
    PublishView();
    return;
  }
  uv_timer_start(view_, [](uv_timer_t* t) { static_cast<CatalogOwner*>(t->data)->PublishView(); },
                 Millis(wait) + 1, 0);
}

void CatalogOwner::PublishView() {
  absl::Time start = absl::Now();
  auto shared = std::make_shared<const catalog::SharedCatalog>(store_.Shared());
  for (auto& callback : index_callbacks_) callback(shared);
  view_made_at_ = absl::Now();
  view_cost_ = view_made_at_ - start;
}

void CatalogOwner::ScheduleExpiry() {
  absl::Time next = store_.NextExpiry(options_.agent_grace, options_.reap_after);
  if (next == absl::InfiniteFuture()) {
    uv_timer_stop(expiry_);
    return;
  }
  uv_timer_start(expiry_, [](uv_timer_t* t) {
    auto* self = static_cast<CatalogOwner*>(t->data);
    if (self->store_.Expire(absl::Now(), self->options_.agent_grace, self->options_.reap_after)) {
      SVCDNS_LOG(kInfo, "nodes_expired", "index=", self->store_.index());
      self->MarkDirty();
    }
    self->ScheduleExpiry();
  }, Millis(next - absl::Now()) + 1, 0);
}

void CatalogOwner::Persist() {
  if (store_.index() == persisted_index_) return;
  std::string path = options_.data_dir + "/catalog.json";
  if (auto s = catalog::SaveCatalogFile(store_.StreamNodes(), path); !s.ok()) {
    SVCDNS_LOG(kError, "persist_failed", "path=", path, " error=", Quote(s.message()));
    return;
  }
  persisted_index_ = store_.index();
}

void CatalogOwner::Close() {
  if (closing_) return;
  closing_ = true;
  if (dirty_) (void)Publish();  // acknowledge what is applied
  if (!options_.data_dir.empty()) Persist();
  // Streams are released as their kEnded events arrive (Drain), when the
  // ingest server cancels them.
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    CloseHandle(wake_);
    wake_ = nullptr;
  }
  CloseHandle(coalesce_);
  CloseHandle(expiry_);
  CloseHandle(persist_);
  CloseHandle(view_);
  CloseHandle(reclaim_);
}

}  // namespace svcdns::server
