#!/usr/bin/env bash
# Churn benchmark: svcdns under catalog updates (agent streams) against Knot
# DNS under dynamic updates (RFC 2136), with the DNS load of run.sh.
#
#   bash bench/e2e/churn.sh [--cycles N] [--duration S] [--rate N] [--sizes 100000,10000]
#        [--nodes N] [--servers svcdns,knot] [--coalesce DUR] [--outstanding N]
#        [--drain S] [--max-poll-qps N] [--loadgen-wait poll|spin] [--svcdns PATH]
#        [--churn-client PATH] [--out FILE]
#        [--note TEXT] [--keep]
#
# Defaults: 5 cycles of 10 s quiet + 10 s under 1,000 updates/s (sent for
# 12 s), catalogs of 100k and 10k instances (S/3 services x 3 on 100
# nodes), svcdns and Knot: about 12 minutes. Needs build/svcdns and
# build/bench/churn_client
# (`ninja -C build svcdns churn_client`). Writes bench/results/churn-<date>.md
# (<date>b.md, c, ... if taken).
#
# For each size and server (details in churn.py and bench/churn_client.cc):
#  1. the server on CPU 0 (svcdns --workers 1, empty, fed the catalog by
#     churn_client over 100 agent streams, Hello + Sync each; Knot with
#     gen.py's zone and an ACL allowing updates from 127.0.0.1);
#  2. loadgen.cc (run.sh --loadgen fast) on CPU 1 for --duration s: quiet
#     (it sleeps when no answer is waiting, as churn_client shares its CPU;
#     --loadgen-wait spin as in run.sh);
#  3. again while churn_client, pinned to CPU 1 too, sends --rate updates/s
#     (check flips, new and deleted instances; to Knot the same changes as
#     one SRV record added/deleted per UPDATE message, sent by churn_client
#     itself rather than through nsupdate processes) and measures
#     update->ack and update->visible (a UDP SRV poll) latencies;
#  4. steps 2 and 3 --cycles times in all, then quiet once more: each churn
#     run's drop is against the mean of the two quiet runs that bracket it
#     (a shared machine drifts by several percent within a minute);
#  5. reports each cycle's QPS drop, their median, and the latencies (after
#     up to --drain s, default 30, for late acks).
# knot and taskset are installed from Debian if missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
repo="$(cd "$here/../.." && pwd)"
svcdns="$repo/build/svcdns"
client=""
out=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --svcdns) svcdns="$2"; shift 2 ;;
    --churn-client) client="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --keep) args+=(--keep); shift ;;
    --cycles|--duration|--rate|--sizes|--nodes|--servers|--coalesce|--outstanding|--drain|--note|--port-base|--queries|--max-poll-qps|--loadgen-wait)
      args+=("$1" "$2"); shift 2 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$client" ]] || client="$(dirname "$svcdns")/bench/churn_client"
[[ -n "$out" ]] || out="$(results_file churn)"

[[ -x "$svcdns" ]] || { echo "no svcdns binary at $svcdns (build it, or pass --svcdns)" >&2; exit 1; }
[[ -x "$client" ]] || { echo "no churn_client at $client (ninja churn_client, or pass --churn-client)" >&2; exit 1; }
[[ "$(nproc)" -ge 2 ]] || { echo "needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2; exit 1; }

missing=()
command -v knotd >/dev/null || missing+=(knot)
command -v taskset >/dev/null || missing+=(util-linux)
command -v g++ >/dev/null || missing+=(g++)
command -v nsd >/dev/null || missing+=(nsd)        # e2e.machine() reads its version
install_missing "${missing[@]}"
make_workdir svcdns-churn

g++ -std=c++20 -O2 -Wall -o "$work/loadgen" "$here/loadgen.cc"
mkdir -p "$(dirname "$out")"
git_rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
python3 "$here/churn.py" --work "$work" --svcdns "$svcdns" --churn-client "$client" \
  --loadgen-bin "$work/loadgen" --out "$out" --git "$git_rev" "${args[@]}"
echo "results: $out" >&2
