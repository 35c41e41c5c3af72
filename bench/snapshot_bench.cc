// The first build of a SnapshotBuilder at 1k / 100k / 1M instances, with what
// it costs in memory: heap bytes live after the build (snapshot and builder,
// counted by replacing malloc), the resident set it added, and the peak
// during the build, and the heap allocations of one build. Targets: 1M instances under 2 s and under 1 KiB per instance.
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "bench/catalog_generator.h"
#include "bench/malloc_counter.h"
#include "benchmark/benchmark.h"
#include "catalog/catalog_store.h"
#include "catalog/snapshot.h"
#include "catalog/snapshot_builder.h"

namespace svcdns::bench {
namespace {

// A "VmRSS:" style line of /proc/self/status, in bytes (0 if unreadable).
int64_t ProcStatusBytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::stoll(line.substr(n)) * 1024;  // kB
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false if it cannot.
bool ResetPeakRss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

// The catalog of the size being measured; one at a time (1M is large).
const catalog::Catalog& CatalogOfSize(size_t instances) {
  static size_t cached_size = 0;
  static std::unique_ptr<catalog::Catalog> cached;
  if (!cached || cached_size != instances) {
    cached.reset();
    cached = std::make_unique<catalog::Catalog>(GenerateCatalog(instances));
    cached_size = instances;
  }
  return *cached;
}

constexpr double kMiB = 1024.0 * 1024.0;

// The server's first publication: the store holds every node state; a new
// SnapshotBuilder is handed them all and builds. Memory is what the server
// keeps for serving: the snapshot plus the builder's bookkeeping (the node
// states themselves are the store's).
struct FirstBuild {
  std::unique_ptr<catalog::SnapshotBuilder> builder;
  std::unique_ptr<catalog::Snapshot> snapshot;
};
using SharedNodes = std::vector<std::pair<catalog::NodeKey, std::shared_ptr<const catalog::NodeState>>>;

SharedNodes ShareNodes(const catalog::Catalog& c) {
  SharedNodes nodes;
  for (const catalog::NodeState& n : c.nodes) {
    nodes.emplace_back(catalog::KeyOfNode(n.node, "dc1"), std::make_shared<const catalog::NodeState>(n));
  }
  return nodes;
}

FirstBuild BuildFirst(const SharedNodes& nodes, uint64_t index) {
  FirstBuild out;
  out.builder = std::make_unique<catalog::SnapshotBuilder>(catalog::SnapshotOptions{});
  for (const auto& [key, node] : nodes) out.builder->SetNode(key, node);
  auto snapshot = out.builder->Build(index);
  if (!snapshot.ok()) std::abort();
  out.snapshot = *std::move(snapshot);
  return out;
}

void BM_BuildSnapshot(benchmark::State& state) {
  size_t instances = static_cast<size_t>(state.range(0));
  const catalog::Catalog& c = CatalogOfSize(instances);
  SharedNodes nodes = ShareNodes(c);

  // Memory, measured once outside the timed loop: give freed memory back to
  // the kernel first so that the RSS delta is the snapshot's own.
  malloc_trim(0);
  bool peak_ok = ResetPeakRss();
  int64_t rss_before = ProcStatusBytes("VmRSS:");
  uint64_t allocs_before = AllocationCount();
  FirstBuild first;
  int64_t heap = 0;
  {
    TrackHeapBytes track;
    int64_t heap_before = LiveHeapBytes();
    first = BuildFirst(nodes, c.index);
    heap = LiveHeapBytes() - heap_before;
  }
  uint64_t allocs = AllocationCount() - allocs_before;
  int64_t rss = ProcStatusBytes("VmRSS:") - rss_before;
  int64_t peak = ProcStatusBytes("VmHWM:") - rss_before;
  size_t served = first.snapshot->instance_count;
  size_t keys = first.snapshot->answers.size();
  first = {};

  for (auto _ : state) {
    FirstBuild built = BuildFirst(nodes, c.index);
    benchmark::DoNotOptimize(built.snapshot.get());
    state.PauseTiming();  // freeing is not building
    built = {};
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(instances));
  state.counters["heap_mb"] = static_cast<double>(heap) / kMiB;
  state.counters["heap_bytes_per_instance"] = static_cast<double>(heap) / static_cast<double>(instances);
  state.counters["rss_mb"] = static_cast<double>(rss) / kMiB;
  if (peak_ok) state.counters["peak_rss_mb"] = static_cast<double>(peak) / kMiB;
  state.counters["allocs_per_instance"] = static_cast<double>(allocs) / static_cast<double>(instances);
  state.counters["healthy_instances"] = static_cast<double>(served);
  state.counters["keys"] = static_cast<double>(keys);
}
BENCHMARK(BM_BuildSnapshot)->Arg(1'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildSnapshot)->Arg(100'000)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_BuildSnapshot)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(2);

// Publishing after changes, the way the server does: the builder has built
// the catalog once; then `changes` nodes get a check flip (or a port change)
// each, are handed to SetNode as the store hands them over, and Build
// publishes a new snapshot that shares everything else with the last one.
void BM_RebuildAfterChanges(benchmark::State& state) {
  size_t instances = static_cast<size_t>(state.range(0));
  size_t changes = static_cast<size_t>(state.range(1));
  catalog::Catalog c = CatalogOfSize(instances);
  catalog::SnapshotBuilder builder({});
  auto first = builder.Build(c);
  if (!first.ok()) state.SkipWithError("build failed");
  std::unique_ptr<catalog::Snapshot> previous = *std::move(first);
  std::mt19937 rng(7);
  uint64_t index = c.index;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<std::pair<catalog::NodeKey, std::shared_ptr<const catalog::NodeState>>> changed;
    for (size_t i = 0; i < changes; ++i) {
      auto& node = c.nodes[rng() % c.nodes.size()];
      if (node.services.empty()) continue;  // a node without instances: nothing to flip
      if (node.checks.empty()) {
        node.services[rng() % node.services.size()].Mutable().port ^= 1;
      } else {
        catalog::Check& check = node.checks[rng() % node.checks.size()].Mutable();
        check.status = check.status == catalog::Health::kCritical ? catalog::Health::kPassing
                                                                  : catalog::Health::kCritical;
      }
      changed.emplace_back(catalog::KeyOfNode(node.node, "dc1"),
                           std::make_shared<const catalog::NodeState>(node));
    }
    state.ResumeTiming();
    for (auto& [key, node_state] : changed) builder.SetNode(key, std::move(node_state));
    auto snapshot = builder.Build(++index);
    benchmark::DoNotOptimize(snapshot);
    state.PauseTiming();
    previous = *std::move(snapshot);  // freeing is not part of publishing (RCU does it later)
    state.ResumeTiming();
  }
  state.counters["compiled"] = static_cast<double>(builder.compiled());
}
BENCHMARK(BM_RebuildAfterChanges)->Args({100'000, 1})->Args({100'000, 1'000})
    ->Unit(benchmark::kMillisecond)->Iterations(50);
BENCHMARK(BM_RebuildAfterChanges)->Args({1'000'000, 1})->Args({1'000'000, 1'000})
    ->Unit(benchmark::kMillisecond)->Iterations(50);

// One agent update on a node of `services` services, the way the server
// handles it: the store applies it (a new node state that shares the
// untouched services and checks), the builder publishes. A check flip, or
// (second argument 1) a service deleted and registered again. Agents of a
// thousand services are what `churn.sh --nodes 100` makes of 100k instances.
void BM_AgentUpdateOnLargeNode(benchmark::State& state) {
  int services = static_cast<int>(state.range(0));
  bool deletions = state.range(1) == 1;
  catalog::CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  catalog::Node node;
  node.name = "big";
  node.address = "10.1.0.1";
  std::vector<catalog::Service> all;
  std::vector<catalog::Check> checks;
  for (int i = 0; i < services; ++i) {
    catalog::Service s;
    s.id = "svc" + std::to_string(i) + "-big";
    s.name = "svc" + std::to_string(i);
    s.port = 8000;
    s.tags = {"v1", "primary"};
    all.push_back(s);
    catalog::Check c;
    c.id = "check-" + s.id;
    c.service_id = s.id;
    c.status = catalog::Health::kPassing;
    checks.push_back(c);
  }
  if (!store.Hello(1, node, now).ok() || !store.Sync(1, all, checks, false, now).ok()) {
    state.SkipWithError("store setup failed");
    return;
  }
  catalog::SnapshotBuilder builder({});
  auto publish = [&] {
    for (auto& [key, node_state] : store.TakeChanges()) builder.SetNode(key, std::move(node_state));
    return builder.Build(store.index());
  };
  std::unique_ptr<catalog::Snapshot> previous = *publish();
  std::mt19937 rng(7);
  bool critical = false;
  for (auto _ : state) {
    int i = static_cast<int>(rng() % services);
    std::vector<catalog::Change> changes;
    if (deletions) {
      changes.emplace_back(catalog::DeleteService{all[i].id});
      changes.emplace_back(all[i]);
      changes.emplace_back(checks[i]);
    } else {
      critical = !critical;
      changes.emplace_back(catalog::CheckResult{
          checks[i].id, critical ? catalog::Health::kCritical : catalog::Health::kPassing, ""});
    }
    if (!store.Update(1, changes, now).ok()) state.SkipWithError("update failed");
    auto snapshot = publish();
    state.PauseTiming();
    previous = *std::move(snapshot);  // freeing is not part of publishing (RCU does it later)
    state.ResumeTiming();
  }
}
BENCHMARK(BM_AgentUpdateOnLargeNode)->Args({1'000, 0})->Args({1'000, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace svcdns::bench

BENCHMARK_MAIN();
