#!/usr/bin/env bash
# End-to-end benchmark: svcdns against Knot DNS and NSD (and a trivial echo
# responder as the ceiling) over UDP on 127.0.0.1, loaded by loadgen.cc.
#
#   bash bench/e2e/run.sh [--duration S] [--runs N] [--services N]
#        [--instances-per-service N] [--nodes N] [--queries N] [--mem-sizes 10000,100000]
#        [--tags-per-instance N] [--critical-share F] [--mix A,SRV,TAG,NODE,NX] [--edns-share F]
#        [--mem-1m] [--loadgen fast|dnsperf] [--loadgen-wait spin|poll] [--outstanding N] [--svcdns PATH]
#        [--out FILE] [--note TEXT] [--keep]
#   bash bench/e2e/run.sh --large-srv [--duration S] [--runs N] [--queries N]
#        [--pipeline N] [--servers svcdns,knot,nsd] [--svcdns PATH] [--out FILE] [--note TEXT]
#
# Defaults: 1,000 services x 3 instances on 300 nodes, two tags each, 10% of
# instances critical; the issue's mix (--mix 60,20,10,0,10: percent A, SRV,
# tag-filtered A, node A, NXDOMAIN; half with EDNS); 5 runs of 6 s per
# server (about 3 minutes in all, memory part included). Writes
# bench/results/e2e-<date>.md (or --out). Another catalog or mix, e.g.:
#   bash bench/e2e/run.sh --services 200 --instances-per-service 20 \
#     --critical-share 0.3 --mix 20,50,10,10,10 --edns-share 1
#
# What it does (details in gen.py and e2e.py):
#  1. installs knot and nsd (and dnsperf with --loadgen dnsperf) from Debian
#     if missing (apt-get; the resolver configuration is never touched, and no
#     system service is started: the servers run here, from config files in
#     a temporary directory, on 127.0.0.1 ports 25350-25361, and are killed
#     by PID on exit);
#  2. generates the catalog (svcdns --catalog JSON), the equivalent zone file
#     for consul. and the query mix (gen.py, fixed seed);
#  3. checks that Knot and NSD answer 200 sampled queries exactly as svcdns
#     does (rcode and answer RRset, sorted, TTLs aside) and aborts with a diff
#     if not;
#  4. measures svcdns (--workers 1), knotd (1 UDP worker, 1 background
#     worker), nsd (server-count 1) and echo_responder.c, each pinned to
#     CPU 0, with the load pinned to CPU 1 (loadgen.cc, compiled here:
#     batched sendmmsg/recvmmsg and a latency histogram; it never sleeps,
#     since over loopback the server's CPU would pay for waking it, or
#     sleeps in poll() with --loadgen-wait poll as before; or dnsperf -B -v
#     with --loadgen dnsperf, which on one core sets the pace of every server
#     here at ~130k q/s and leaves them partly idle): answered q/s, server
#     CPU, queries per server CPU-second, p50/p99 latency, losses, and how
#     busy CPU 0 was with other work; medians of the runs, interleaved round
#     robin; the results say when a server was not busy all the time;
#  5. reads VmRSS of svcdns and of Knot serving 10k and 100k instances
#     (--mem-1m adds 1M: ~10 s and ~1.5 GB for svcdns's snapshot).
#
# --large-srv instead times large answers (about 1 to 3 minutes): one service
# svc0 of 1,000 healthy instances, each on its own node (gen.py
# --one-per-node), served by svcdns, Knot and NSD as above; checks that each
# one's TCP answer to svc0.service.consul SRV has all 1,000 SRV records (and
# counts its additional addresses), then sends up to --queries (default
# 20,000) such queries per run, for at most --duration s, from loadgen.cc
# over TCP on CPU 1: one query per connection, then pipelined on one
# connection (--pipeline, default 10, in flight); per-query p50/p99, q/s,
# server CPU per query; medians of --runs. Writes
# bench/results/large-srv-<date>.md (or --out).
#
# Left out (not measured here): the churn run (stream updates to svcdns
# against dynamic updates to Knot: bench/e2e/churn.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
repo="$(cd "$here/../.." && pwd)"
svcdns="$repo/build/svcdns"
out=""
mem_sizes="10000,100000"
loadgen=fast
large=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --svcdns) svcdns="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --mem-sizes) mem_sizes="$2"; shift 2 ;;
    --mem-1m) mem_sizes="$mem_sizes,1000000"; shift ;;
    --keep) args+=(--keep); shift ;;
    --loadgen) loadgen="$2"; args+=("$1" "$2"); shift 2 ;;
    --large-srv) large=large-srv; args+=(--large-srv 1000); shift ;;
    --duration|--runs|--services|--instances-per-service|--nodes|--queries|--seed|--note|--port-base|--servers|--outstanding|--check|--pipeline|--tags-per-instance|--critical-share|--mix|--edns-share|--loadgen-wait)
      args+=("$1" "$2"); shift 2 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$out" ]] || out="$(results_file "${large:-e2e}")"

[[ -x "$svcdns" ]] || { echo "no svcdns binary at $svcdns (build it, or pass --svcdns)" >&2; exit 1; }
[[ "$(nproc)" -ge 2 ]] || { echo "needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2; exit 1; }

missing=()
command -v knotd >/dev/null || missing+=(knot)
command -v nsd >/dev/null || missing+=(nsd)
[[ "$loadgen" != dnsperf ]] || command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v taskset >/dev/null || missing+=(util-linux)
command -v cc >/dev/null || missing+=(gcc)
command -v g++ >/dev/null || missing+=(g++)
install_missing "${missing[@]}"
make_workdir svcdns-e2e

cc -O2 -Wall -o "$work/echo_responder" "$here/echo_responder.c"
g++ -std=c++20 -O2 -Wall -o "$work/loadgen" "$here/loadgen.cc"
mkdir -p "$(dirname "$out")"
git_rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
python3 "$here/e2e.py" --work "$work" --svcdns "$svcdns" --echo "$work/echo_responder" \
  --out "$out" --mem-sizes "$mem_sizes" --git "$git_rev" --loadgen-bin "$work/loadgen" "${args[@]}"
echo "results: $out" >&2
