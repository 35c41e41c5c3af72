#include "server/metrics.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace svcdns::server {
namespace {

void Header(std::string* out, const char* name, const char* type, const char* help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

std::string RenderMetrics(const DnsServer& dns, const CatalogOwner& owner) {
  std::string out;
  uint64_t answered[2][kRcodeSlots] = {};
  uint64_t by_type[kTypeSlots] = {};
  uint64_t dropped = 0, truncated = 0, tcp_open = 0, tcp_refused = 0, forwarded = 0,
           forward_refused = 0, recursor_failures = 0;
  for (const auto& worker : dns.workers()) {
    const ResponderStats& s = worker->stats();
    for (int t = 0; t < 2; ++t) {
      for (size_t r = 0; r < kRcodeSlots; ++r) answered[t][r] += s.answered[t][r].Get();
    }
    for (size_t i = 0; i < kTypeSlots; ++i) by_type[i] += s.by_type[i].Get();
    dropped += s.dropped.Get();
    truncated += s.truncated.Get();
    tcp_open += worker->tcp_open();
    tcp_refused += worker->tcp_refused();
    forwarded += s.forwarded.Get();
    forward_refused += worker->forward_refused();
    recursor_failures += worker->recursor_failures();
  }
  Header(&out, "svcdns_dns_responses_total", "counter", "DNS answers by transport and rcode.");
  for (int t = 0; t < 2; ++t) {
    for (size_t r = 0; r < kRcodeSlots; ++r) {
      absl::StrAppend(&out, "svcdns_dns_responses_total{transport=\"", t ? "tcp" : "udp",
                      "\",rcode=\"", kRcodeNames[r], "\"} ", answered[t][r], "\n");
    }
  }
  Header(&out, "svcdns_dns_queries_by_type_total", "counter", "DNS questions by query type.");
  for (size_t i = 0; i < kTypeSlots; ++i) {
    absl::StrAppend(&out, "svcdns_dns_queries_by_type_total{qtype=\"", kCountedTypeNames[i],
                    "\"} ", by_type[i], "\n");
  }
  Header(&out, "svcdns_dns_truncated_total", "counter", "UDP answers with TC set.");
  absl::StrAppend(&out, "svcdns_dns_truncated_total ", truncated, "\n");
  Header(&out, "svcdns_dns_dropped_total", "counter", "Packets not answered (too short, or responses).");
  absl::StrAppend(&out, "svcdns_dns_dropped_total ", dropped, "\n");
  Header(&out, "svcdns_dns_tcp_connections", "gauge", "Open DNS TCP connections.");
  absl::StrAppend(&out, "svcdns_dns_tcp_connections ", tcp_open, "\n");
  Header(&out, "svcdns_dns_tcp_refused_total", "counter", "DNS TCP connections over the limit.");
  absl::StrAppend(&out, "svcdns_dns_tcp_refused_total ", tcp_refused, "\n");

  Header(&out, "svcdns_dns_forwarded_total", "counter", "Queries handed to a --recursor.");
  absl::StrAppend(&out, "svcdns_dns_forwarded_total ", forwarded, "\n");
  Header(&out, "svcdns_dns_forward_refused_total", "counter",
         "Queries not forwarded: too many pending.");
  absl::StrAppend(&out, "svcdns_dns_forward_refused_total ", forward_refused, "\n");
  Header(&out, "svcdns_dns_recursor_failures_total", "counter",
         "Forwarded queries answered SERVFAIL: no recursor answered.");
  absl::StrAppend(&out, "svcdns_dns_recursor_failures_total ", recursor_failures, "\n");

  const CatalogOwner::Stats& o = owner.stats();
  Header(&out, "svcdns_snapshot_index", "gauge", "Catalog index of the published snapshot (SOA serial).");
  absl::StrAppend(&out, "svcdns_snapshot_index ", o.index.Get(), "\n");
  Header(&out, "svcdns_snapshot_instances", "gauge", "Healthy instances in the published snapshot.");
  absl::StrAppend(&out, "svcdns_snapshot_instances ", o.instances.Get(), "\n");
  Header(&out, "svcdns_snapshot_age_seconds", "gauge", "Seconds since the last publication.");
  absl::StrAppend(&out, "svcdns_snapshot_age_seconds ",
                  absl::ToUnixSeconds(absl::Now()) - static_cast<int64_t>(o.published_at_unix.Get()), "\n");
  Header(&out, "svcdns_snapshot_build_seconds", "gauge", "Build and publish time of the last snapshot.");
  absl::StrAppend(&out, "svcdns_snapshot_build_seconds ", o.last_build_us.Get() / 1e6, "\n");
  Header(&out, "svcdns_snapshot_publications_total", "counter", "Snapshots published.");
  absl::StrAppend(&out, "svcdns_snapshot_publications_total ", o.publications.Get(), "\n");
  Header(&out, "svcdns_ingest_streams", "gauge", "Agent streams connected.");
  absl::StrAppend(&out, "svcdns_ingest_streams ", o.streams.Get(), "\n");
  Header(&out, "svcdns_ingest_messages_applied_total", "counter", "Agent messages applied.");
  absl::StrAppend(&out, "svcdns_ingest_messages_applied_total ", o.applied.Get(), "\n");
  Header(&out, "svcdns_ingest_ack_latency_seconds", "histogram",
         "From applying an agent message to acknowledging it (visible in DNS).");
  uint64_t cumulative = 0;
  for (size_t b = 0; b < 13; ++b) {
    cumulative += o.ack_buckets[b].Get();
    std::string le = b < 12 ? absl::StrCat(CatalogOwner::Stats::kAckBucketsMs[b] / 1000) : "+Inf";
    absl::StrAppend(&out, "svcdns_ingest_ack_latency_seconds_bucket{le=\"", le, "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, "svcdns_ingest_ack_latency_seconds_sum ", o.ack_sum_us.Get() / 1e6, "\n");
  absl::StrAppend(&out, "svcdns_ingest_ack_latency_seconds_count ", o.ack_count.Get(), "\n");
  Header(&out, "svcdns_ingest_messages_rejected_total", "counter", "Agent messages rejected, by status.");
  for (int code = 1; code < 17; ++code) {
    if (uint64_t n = o.rejected[code].Get(); n > 0) {
      absl::StrAppend(&out, "svcdns_ingest_messages_rejected_total{code=\"",
                      absl::StatusCodeToString(static_cast<absl::StatusCode>(code)), "\"} ", n, "\n");
    }
  }
  return out;
}

}  // namespace svcdns::server
