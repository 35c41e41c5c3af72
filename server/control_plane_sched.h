// How the control plane shares cores with the DNS workers: its threads (the
// owner's loop, the ingest thread) run SCHED_BATCH, so that their wake-ups
// never preempt a worker in the middle of a batch of queries; each worker
// instead yields its core between batches at least once a millisecond
// (DnsWorker), which bounds how long the control plane waits for it.
//
// Measured on one core shared by a worker under full load and 1,000
// updates/s (bench/e2e/churn.sh): preempting the worker on every wake-up
// cost it several percent per query on top of the control plane's own CPU
// time; SCHED_BATCH alone left the control plane waiting for the
// scheduler tick (4 ms at HZ=250), update-visible p99 over 10 ms.
#ifndef SVCDNS_SERVER_CONTROL_PLANE_SCHED_H_
#define SVCDNS_SERVER_CONTROL_PLANE_SCHED_H_

#include <cstdint>

namespace svcdns::server {

// Makes the calling thread SCHED_BATCH (threads it starts afterwards
// inherit it: call it once the DNS workers run). `thread` names it in the
// debug log line if the kernel refuses.
void RunAsControlPlane(const char* thread);

// How often, at most, a DNS worker yields its core between batches.
inline constexpr uint64_t kWorkerYieldIntervalNs = 1'000'000;

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_CONTROL_PLANE_SCHED_H_
