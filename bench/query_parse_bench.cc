// dns::ParseQuery: header, question (lowercased, labels indexed) and EDNS OPT.
#include <string>

#include "bench/catalog_generator.h"
#include "benchmark/benchmark.h"
#include "dns/protocol.h"
#include "dns/query.h"

namespace svcdns::bench {
namespace {

void BM_ParseQuery(benchmark::State& state, const char* name, uint16_t qtype, bool edns) {
  std::string wire = QueryWire(name, qtype, edns);
  const auto* packet = reinterpret_cast<const uint8_t*>(wire.data());
  dns::Query query;
  if (dns::ParseQuery(packet, wire.size(), &query) != dns::QueryStatus::kOk ||
      query.has_edns != edns) {
    state.SkipWithError("query does not parse");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(packet);
    dns::QueryStatus status = dns::ParseQuery(packet, wire.size(), &query);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(query);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(wire.size()));
}

BENCHMARK_CAPTURE(BM_ParseQuery, plain, "web.service.consul", dns::kTypeA, false);
BENCHMARK_CAPTURE(BM_ParseQuery, edns, "web.service.consul", dns::kTypeA, true);
BENCHMARK_CAPTURE(BM_ParseQuery, mixed_case, "WeB.SeRvIcE.CoNsUl", dns::kTypeA, false);
BENCHMARK_CAPTURE(BM_ParseQuery, mixed_case_edns, "WeB.SeRvIcE.CoNsUl", dns::kTypeA, true);
BENCHMARK_CAPTURE(BM_ParseQuery, long_name_edns, "_Svc123456._Tag7.Service.DC1.DC.Consul",
                  dns::kTypeSrv, true);

}  // namespace
}  // namespace svcdns::bench

BENCHMARK_MAIN();
