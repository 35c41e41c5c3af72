#!/usr/bin/env python3
"""The churn benchmark's driver (stdlib only); bench/e2e/churn.sh calls it.

For each --sizes catalog (gen.py: S services x 3 instances on --nodes nodes)
and each of svcdns and Knot, each server pinned to CPU 0 (svcdns --workers 1,
Knot 1 UDP worker and 1 background worker):

  1. svcdns starts empty and bench/churn_client registers the catalog over
     --nodes agent streams (Hello + Sync each); Knot loads gen.py's zone and
     accepts RFC 2136 UPDATEs from 127.0.0.1 (an ACL, no TSIG);
  2. quiet: the load (loadgen.cc, pinned to CPU 1) for --duration seconds;
  3. churn: the churn client (pinned to CPU 1 as well: its cost competes with
     the load generator, not with the server) sends --rate updates/s of one
     change each for --duration + 2 s while the same load runs for --duration
     s, starting 1 s in; to svcdns over the agent streams, to Knot as UPDATE
     messages over UDP (one SRV record added or deleted per update); it
     reports ack and update->visible latencies (see bench/churn_client.cc);
  4. steps 2 and 3 again, --cycles times in all (the same client, streams
     and catalog model: one churn phase of the client per cycle), then a
     last quiet run; svcdns keeps serving the nodes while the client is
     quiet (--agent-grace 10m);
  5. each cycle's QPS drop (its churn run against the mean of the quiet runs
     just before and after it: a shared machine drifts by several percent
     within a minute), their median and the latencies go in the report.

Every process it starts is written to WORK/pids (churn.sh's trap kills them).
"""
import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import e2e  # noqa: E402
from e2e import log, start, stop, stop_all, wait_ready, ask, measure, machine  # noqa: E402


def knot_conf(work, zone, port, tag):
    """e2e.knot_conf plus an ACL that lets 127.0.0.1 send dynamic updates."""
    conf = e2e.knot_conf(work, zone, port, tag)
    with open(conf) as f:
        text = f.read()
    text = text.replace("template:\n", "acl:\n  - id: local-update\n    address: 127.0.0.1\n"
                        "    action: update\ntemplate:\n", 1)
    text += "    acl: local-update\n"
    with open(conf, "w") as f:
        f.write(text)
    return conf


def parse_churn(line):
    out = {}
    for kv in line.split()[1:]:
        k, v = kv.split("=", 1)
        for conv in (int, float, str):  # float() reads "inf" and "nan"
            try:
                out[k] = conv(v)
                break
            except ValueError:
                pass
    return out


def one(a, size, which, cat_dir, port, ingest_port):
    catalog, zone = os.path.join(cat_dir, "catalog.json"), os.path.join(cat_dir, "consul.zone")
    tag = "%s-%d" % (which, size)
    t0 = time.monotonic()
    if which == "svcdns":
        argv = ["taskset", "-c", "0", a.svcdns, "serve", "--dns-addr", "127.0.0.1:%d" % port,
                "--workers", "1", "--ingest-addr", "127.0.0.1:%d" % ingest_port, "--http-addr", "",
                "--coalesce", a.coalesce, "--agent-grace", "10m"]
        server = start(a.work, tag, argv)
        wait_ready(port, server, which)
        cargv = ["--mode", "grpc", "--ingest-addr", "127.0.0.1:%d" % ingest_port]
    else:
        server = start(a.work, tag, ["taskset", "-c", "0", "knotd", "-c", knot_conf(a.work, zone, port, tag)])
        wait_ready(port, server, which)
        cargv = ["--mode", "dns-update"]
    churn_log = open(os.path.join(a.work, tag + "-churn.log"), "ab")
    client = subprocess.Popen(
        ["taskset", "-c", "1", a.churn_client, "--catalog", catalog, "--dns-addr", "127.0.0.1:%d" % port,
         "--rate", str(a.rate), "--duration", str(a.duration + 2), "--phases", str(a.cycles), "--wait-stdin",
         "--drain", str(a.drain), "--max-poll-qps", str(a.max_poll_qps)] + cargv,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=churn_log, text=True, start_new_session=True)
    e2e.PROCS.append(client)
    e2e.write_pids(a.work)
    quiets, cycles = [], []
    for k in range(a.cycles):
        line = client.stdout.readline().strip()
        if line != "READY":
            raise SystemExit("churn client for %s did not get ready (%r); see %s-churn.log" % (tag, line, tag))
        if k == 0:
            ready_s = time.monotonic() - t0
            r = ask(port, "svc1.service.consul", "SRV", True)
            log("%s %d: ready in %.1f s; svc1.service.consul SRV: %s" % (which, size, ready_s, r and r[0]))
        quiets.append(measure(a, which, server, port, 2 * k + 1))
        cycles.append(churn_phase(a, which, server, port, client, 2 * k + 2, tag))
    quiets.append(measure(a, which, server, port, 2 * a.cycles + 1))
    client.wait(60)
    for k, c in enumerate(cycles):
        c["drop"] = drop(quiets[k], c["churn"], quiets[k + 1])
        log("%s %d cycle %d: quiet %.0f / %.0f q/s, churn %.0f q/s (%+.1f%%); %s" % (
            which, size, k + 1, quiets[k]["qps"], quiets[k + 1]["qps"], c["churn"]["qps"], c["drop"], c["summary"]))
    stop(client, a.work)
    stop(server, a.work)
    return {"size": size, "server": which, "ready_s": ready_s, "quiets": quiets, "cycles": cycles}


def churn_phase(a, which, server, port, client, run, tag):
    """One churn phase of the client, under the load; what it measured."""
    client.stdin.write("go\n")
    client.stdin.flush()
    time.sleep(1)
    t0, c0, th0 = time.monotonic(), e2e.cpu_ticks(client.pid), e2e.thread_ticks(server.pid)
    churn = measure(a, which, server, port, run)
    elapsed = time.monotonic() - t0
    client_cpu = (e2e.cpu_ticks(client.pid) - c0) / e2e.CLK_TCK / elapsed
    # svcdns: the CPU its threads other than the DNS worker (gRPC, the owner
    # loop) took from the shared core while the updates came in.
    control_cpu = None
    if which == "svcdns":
        th1 = e2e.thread_ticks(server.pid)
        ticks = sum(t - th0.get(tid, (name, 0))[1] for tid, (name, t) in th1.items()
                    if not name.startswith("dns-worker"))
        control_cpu = ticks / e2e.CLK_TCK / elapsed
    line = client.stdout.readline().strip()  # the phase's summary, once its acks are in
    if not line.startswith("CHURN "):
        raise SystemExit("churn client for %s printed no summary (%r); see %s-churn.log" % (tag, line, tag))
    return {"churn": churn, "client": parse_churn(line), "client_cpu": client_cpu,
            "control_cpu": control_cpu, "summary": line}


def drop(quiet, churn, after):
    """Churn q/s against the mean of the quiet runs before and after, in %."""
    return 100 * (churn["qps"] / ((quiet["qps"] + after["qps"]) / 2) - 1)


def fmt(v, spec="%.1f"):
    if v is None or v != v:
        return "n/a"
    return "inf" if v == float("inf") else spec % v


def summarize(r):
    """A table row's figures from a server's cycles: medians, the worst p99 and max."""
    cs = r["cycles"]
    cl = [c["client"] for c in cs]
    out = {
        "drops": [c["drop"] for c in cs],
        "drop": statistics.median([c["drop"] for c in cs]),
        "quiet_qps": statistics.median([q["qps"] for q in r["quiets"]]),
        "churn_qps": statistics.median([c["churn"]["qps"] for c in cs]),
        "send_rate": statistics.median([c["send_rate"] for c in cl]),
        "unacked": sum(c["unacked"] for c in cl),
        "not_visible": sum(c["vis_timeouts"] + c["vis_pending"] for c in cl),
        "vis_n": sum(c["vis_all_n"] for c in cl),
        "publications": statistics.median([c["publications"] for c in cl]) if r["server"] == "svcdns" else None,
        "cpu_quiet": statistics.median([q["cpu"] for q in r["quiets"]]),
        "cpu_churn": statistics.median([c["churn"]["cpu"] for c in cs]),
        "load_quiet": statistics.median([q["load_cpu"] for q in r["quiets"]]),
        "load_churn": statistics.median([c["churn"]["load_cpu"] for c in cs]),
        "client_cpu": statistics.median([c["client_cpu"] for c in cs]),
        "control_cpu": None if cs[0]["control_cpu"] is None else statistics.median([c["control_cpu"] for c in cs]),
    }
    for kind in ("ack", "vis"):
        out[kind + "_p50"] = statistics.median([c[kind + "_all_p50_ms"] for c in cl])
        out[kind + "_p99"] = max(c[kind + "_all_p99_ms"] for c in cl)
        out[kind + "_max"] = max(c[kind + "_all_max_ms"] for c in cl)
    return out


def report(a, rows, info):
    t = []
    t.append("# Churn benchmark, %s\n" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    t.append("Machine: %d CPUs, %s, kernel %s; %s; svcdns: %s.%s\n" % (
        info["nproc"], info["model"], info["kernel"], info["knot"], e2e.svcdns_label(a),
        (" " + a.note) if a.note else ""))
    t.append("`bash bench/e2e/churn.sh --cycles %d --duration %g --rate %g --sizes %s --nodes %d --outstanding %d "
             "--coalesce %s --max-poll-qps %d --loadgen-wait %s`: each server pinned to CPU 0 (svcdns `--workers 1 "
             "--coalesce %s`, Knot 1 UDP + 1 background worker), loadgen.cc (%d outstanding) pinned to CPU 1. %d cycles of %g s "
             "quiet, then %g s while `churn_client` (also on CPU 1) sends %g updates/s of one change each; then a "
             "last %g s quiet. The drop of a cycle is its churn q/s against the mean of the quiet runs just before "
             "and just after it (a shared machine drifts by several percent within a minute); the table gives "
             "each and their median. Updates go to svcdns over %d agent streams (50%% check flips, 25%% new "
             "instances, 25%% deletions), to Knot as RFC 2136 UPDATEs over UDP (the same changes as one SRV record "
             "added or deleted). Ack: update sent -> its Ack (svcdns) or UPDATE response (Knot), every update. "
             "Visible: update sent -> first UDP SRV answer that reflects it, for every 10th update (each pending "
             "one polled every 1 ms, less often when that would be more than %d polls/s in all). Latency p50 is "
             "the median of the cycles', p99 and max the worst cycle's, over every update sent (sampled), an "
             "update not acked (visible) by the end of the %g s drain counting as infinitely late (inf). The other "
             "columns are medians over the cycles.\n" % (
                 a.cycles, a.duration, a.rate, a.sizes, a.nodes, a.outstanding, a.coalesce, a.max_poll_qps,
                 a.loadgen_wait, a.coalesce, a.outstanding, a.cycles, a.duration, a.duration, a.rate, a.duration, a.nodes,
                 a.max_poll_qps, a.drain))
    t.append("| instances | server | quiet q/s | churn q/s | drop of each cycle | median drop | "
             "updates sent/s | ack p50 / p99 / max ms | visible p50 / p99 / max ms (n) | unacked after drain | "
             "not seen visible | publications per cycle | server CPU quiet / churn | "
             "control plane CPU (µs/update) | load CPU quiet / churn | churn client CPU |")
    t.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    sums = {}
    for r in rows:
        m = sums[(r["size"], r["server"])] = summarize(r)
        t.append("| %d | %s | %s | %s | %s | **%+.1f%%** | %.0f | %s / %s / %s | %s / %s / %s (%d) | %d | %d | %s | "
                 "%.0f%% / %.0f%% | %s | %.0f%% / %.0f%% | %.0f%% |" % (
                     r["size"], r["server"], " / ".join("%.0f" % q["qps"] for q in r["quiets"]),
                     " / ".join("%.0f" % c["churn"]["qps"] for c in r["cycles"]),
                     " / ".join("%+.1f%%" % d for d in m["drops"]), m["drop"], m["send_rate"],
                     fmt(m["ack_p50"]), fmt(m["ack_p99"]), fmt(m["ack_max"]), fmt(m["vis_p50"]),
                     fmt(m["vis_p99"]), fmt(m["vis_max"]), m["vis_n"], m["unacked"], m["not_visible"],
                     fmt(m["publications"], "%.0f"), 100 * m["cpu_quiet"], 100 * m["cpu_churn"],
                     "n/a" if m["control_cpu"] is None else "%.0f%% (%.0f)" % (
                         100 * m["control_cpu"], 1e6 * m["control_cpu"] / max(m["send_rate"], 1)),
                     100 * m["load_quiet"], 100 * m["load_churn"], 100 * m["client_cpu"]))
    t.append("")
    for size in sorted({r["size"] for r in rows}):
        s, k = sums.get((size, "svcdns")), sums.get((size, "knot"))
        if s and k:
            t.append("- %d instances: churn q/s svcdns/Knot %.2f (quiet %.2f); visible p50 svcdns/Knot %s; "
                     "ack p50 svcdns/Knot %s." % (
                         size, s["churn_qps"] / k["churn_qps"], s["quiet_qps"] / k["quiet_qps"],
                         fmt(s["vis_p50"] / k["vis_p50"], "%.1fx") if k["vis_p50"] else "n/a",
                         fmt(s["ack_p50"] / k["ack_p50"], "%.1fx") if k["ack_p50"] else "n/a"))
    t.append("\nRaw summary lines of the churn client, one per cycle:\n")
    t.append("```")
    for r in rows:
        for c in r["cycles"]:
            t.append("%s %d: %s" % (r["server"], r["size"], c["summary"]))
    t.append("```\n")
    return "\n".join(t) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--svcdns", required=True)
    p.add_argument("--churn-client", required=True)
    p.add_argument("--loadgen-bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--drain", type=float, default=30)
    p.add_argument("--sizes", default="100000,10000")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--servers", default="svcdns,knot")
    p.add_argument("--coalesce", default="2ms")
    p.add_argument("--max-poll-qps", type=int, default=5000)
    p.add_argument("--queries", type=int, default=100000)
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--outstanding", type=int, default=100)
    # e2e.py's flag. The churn client shares CPU 1 with the load, so here
    # the generator sleeps when no answer is waiting, leaving it the core.
    p.add_argument("--loadgen-wait", choices=("spin", "poll"), default="poll")
    p.add_argument("--port-base", type=int, default=25370)
    p.add_argument("--note", default="")
    p.add_argument("--git", default="?")
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    a.loadgen = "fast"  # what e2e.measure reads
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows = []
    try:
        for size in [int(x) for x in a.sizes.split(",") if x]:
            cat_dir = os.path.join(a.work, "cat-%d" % size)
            services = (size + 2) // 3
            subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), "--out", cat_dir, "--services",
                            str(services), "--instances-per-service", "3", "--nodes", str(a.nodes), "--queries",
                            str(a.queries), "--seed", str(a.seed)], check=True)
            q = os.path.join(a.work, "queries.bin")  # what e2e.run_loadgen reads
            if os.path.lexists(q):
                os.unlink(q)
            os.symlink(os.path.join(cat_dir, "queries.bin"), q)
            for which in a.servers.split(","):
                rows.append(one(a, size, which, cat_dir, a.port_base, a.port_base + 1))
        info = machine()
        text = report(a, rows, info)
        with open(a.out, "w") as f:
            f.write(text)
        with open(os.path.join(a.work, "churn.json"), "w") as f:
            json.dump(rows, f, indent=1)
        print(text)
    finally:
        stop_all(a.work)


if __name__ == "__main__":
    main()
