// The hot path: snapshot lookups at 1k / 100k / 1M instances, and whole
// answers (parse, lookup, copy) for the usual shapes, each with the heap
// allocations it makes per query (the target is zero).
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/catalog_generator.h"
#include "bench/malloc_counter.h"
#include "benchmark/benchmark.h"
#include "catalog/snapshot.h"
#include "dns/protocol.h"
#include "server/responder.h"

namespace svcdns::bench {
namespace {

using server::Responder;
using server::ResponderOptions;
using server::Transport;

constexpr size_t kKeys = 4096;  // distinct names cycled through (a power of 2)

// Snapshots of the generated catalog, built once per size and kept for the
// whole process (the 1M one takes seconds); the catalog itself is dropped.
const catalog::Snapshot& SnapshotOfSize(size_t instances) {
  static std::map<size_t, std::unique_ptr<catalog::Snapshot>> cache;
  std::unique_ptr<catalog::Snapshot>& s = cache[instances];
  if (!s) s = MustBuild(GenerateCatalog(instances));
  return *s;
}

// kKeys service names picked at random (fixed seed) among the catalog's.
std::vector<std::string> RandomServiceNames(size_t instances) {
  std::mt19937 rng(kSeed + 1);
  size_t services = (instances + 2) / 3;
  std::vector<std::string> names(kKeys);
  for (std::string& name : names) name = "svc" + std::to_string(rng() % services);
  return names;
}

// LookupKey + Snapshot::Find, as the responder does for <service>.service.
void BM_Lookup(benchmark::State& state) {
  size_t instances = static_cast<size_t>(state.range(0));
  const catalog::Snapshot& snapshot = SnapshotOfSize(instances);
  std::vector<std::string> names = RandomServiceNames(instances);
  size_t i = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    catalog::LookupKey key(catalog::KeyKind::kService);
    key.AddLabel("dc1");
    key.AddLabel(names[i++ & (kKeys - 1)]);
    key.AddLabel("");
    const catalog::AnswerSet* set = snapshot.Find(key.view());
    benchmark::DoNotOptimize(set);
    hits += set != nullptr;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
  state.counters["keys"] = static_cast<double>(snapshot.answers.size());
}
BENCHMARK(BM_Lookup)->Arg(1'000)->Arg(100'000)->Arg(1'000'000);

// Allocations per answer over a dedicated untimed pass (after one warm-up
// answer), so that nothing the benchmark framework does is counted.
double AllocsPerQuery(Responder& responder, const catalog::Snapshot& snapshot,
                      const std::vector<std::string>& packets, Transport transport,
                      uint8_t* out) {
  constexpr int kPass = 10'000;
  responder.Answer(snapshot, reinterpret_cast<const uint8_t*>(packets[0].data()),
                   packets[0].size(), transport, out);
  uint64_t before = AllocationCount();
  for (int i = 0; i < kPass; ++i) {
    const std::string& p = packets[i % packets.size()];
    responder.Answer(snapshot, reinterpret_cast<const uint8_t*>(p.data()), p.size(), transport,
                     out);
  }
  return static_cast<double>(AllocationCount() - before) / kPass;
}

// Whole answers (an A query for a random service) at each catalog size:
// what the lookup costs once the answer has to be copied too.
void BM_AnswerRandomService(benchmark::State& state) {
  size_t instances = static_cast<size_t>(state.range(0));
  const catalog::Snapshot& snapshot = SnapshotOfSize(instances);
  std::vector<std::string> packets;
  for (const std::string& name : RandomServiceNames(instances)) {
    packets.push_back(QueryWire(name + ".service.consul", dns::kTypeA));
  }
  Responder responder(ResponderOptions{});
  std::vector<uint8_t> out(dns::kMaxMessageSize);
  double allocs = AllocsPerQuery(responder, snapshot, packets, Transport::kUdp, out.data());
  size_t i = 0;
  for (auto _ : state) {
    const std::string& p = packets[i++ & (kKeys - 1)];
    size_t n = responder.Answer(snapshot, reinterpret_cast<const uint8_t*>(p.data()), p.size(),
                                Transport::kUdp, out.data());
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["allocs_per_query"] = allocs;
}
BENCHMARK(BM_AnswerRandomService)->Arg(1'000)->Arg(100'000)->Arg(1'000'000);

// 100k generated instances plus services of known sizes on distinct nodes.
const catalog::Snapshot& AnswerSnapshot() {
  static std::unique_ptr<catalog::Snapshot> snapshot = [] {
    catalog::Catalog c = GenerateCatalog(100'000);
    AddFixedService(c, "one", 1);
    AddFixedService(c, "three", 3);
    AddFixedService(c, "thirty", 30);
    AddFixedService(c, "big", 1000);
    return MustBuild(c);
  }();
  return *snapshot;
}

struct AnswerCase {
  const char* name;
  uint16_t qtype;
  Transport transport;
  bool edns;
  uint8_t rcode;
  bool truncated;
  int answers;     // expected ANCOUNT, -1: any
  int additional;  // expected ARCOUNT (OPT included), -1: any
};

void BM_Answer(benchmark::State& state, AnswerCase c) {
  const catalog::Snapshot& snapshot = AnswerSnapshot();
  std::vector<std::string> packets = {QueryWire(c.name, c.qtype, c.edns, 1232)};
  const std::string& p = packets[0];
  const auto* packet = reinterpret_cast<const uint8_t*>(p.data());
  Responder responder(ResponderOptions{});
  std::vector<uint8_t> out(dns::kMaxMessageSize);

  size_t size = responder.Answer(snapshot, packet, p.size(), c.transport, out.data());
  if (size < dns::kHeaderSize) {
    state.SkipWithError("no answer");
    return;
  }
  uint16_t flags = dns::Load16(&out[2]);
  int ancount = dns::Load16(&out[6]);
  int arcount = dns::Load16(&out[10]);
  if ((flags & 0x0F) != c.rcode || ((flags & dns::kFlagTc) != 0) != c.truncated ||
      (c.answers >= 0 && ancount != c.answers) || (c.additional >= 0 && arcount != c.additional)) {
    state.SkipWithError("unexpected answer (rcode, TC, ANCOUNT or ARCOUNT)");
    return;
  }
  double allocs = AllocsPerQuery(responder, snapshot, packets, c.transport, out.data());
  for (auto _ : state) {
    benchmark::DoNotOptimize(packet);
    size_t n = responder.Answer(snapshot, packet, p.size(), c.transport, out.data());
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
  state.counters["allocs_per_query"] = allocs;
  state.counters["answer_bytes"] = static_cast<double>(size);
  state.counters["ancount"] = ancount;
  state.counters["arcount"] = arcount;
}

constexpr uint8_t kNoError = dns::kRcodeNoError;
constexpr uint8_t kNxDomain = dns::kRcodeNxDomain;
BENCHMARK_CAPTURE(BM_Answer, a_1_instance,
                  AnswerCase{"one.service.consul", dns::kTypeA, Transport::kUdp, false, kNoError,
                             false, 1, 0});
BENCHMARK_CAPTURE(BM_Answer, a_3_instances,
                  AnswerCase{"three.service.consul", dns::kTypeA, Transport::kUdp, false, kNoError,
                             false, 3, 0});
BENCHMARK_CAPTURE(BM_Answer, srv_3_instances_edns,
                  AnswerCase{"three.service.consul", dns::kTypeSrv, Transport::kUdp, true,
                             kNoError, false, 3, 3 + 1});
BENCHMARK_CAPTURE(BM_Answer, srv_30_instances_tcp,
                  AnswerCase{"thirty.service.consul", dns::kTypeSrv, Transport::kTcp, false,
                             kNoError, false, 30, 30});
BENCHMARK_CAPTURE(BM_Answer, nxdomain,
                  AnswerCase{"nosuch.service.consul", dns::kTypeA, Transport::kUdp, false,
                             kNxDomain, false, 0, 0});
BENCHMARK_CAPTURE(BM_Answer, tc_srv_1000_instances_udp_edns,
                  AnswerCase{"big.service.consul", dns::kTypeSrv, Transport::kUdp, true, kNoError,
                             true, -1, -1});
BENCHMARK_CAPTURE(BM_Answer, tc_a_1000_instances_udp,
                  AnswerCase{"big.service.consul", dns::kTypeA, Transport::kUdp, false, kNoError,
                             true, -1, 0});

}  // namespace
}  // namespace svcdns::bench

BENCHMARK_MAIN();
