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
  4. quiet again, once the churn client is done (svcdns keeps serving its
     nodes: --agent-grace 10m), so that the quiet throughput brackets the
     churn run: a shared machine drifts by several percent within a minute;
  5. the QPS drop (churn against the mean of the two quiet runs) and the
     latencies go in the report.

Every process it starts is written to WORK/pids (churn.sh's trap kills them).
"""
import argparse
import datetime
import json
import os
import signal
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
         "--rate", str(a.rate), "--duration", str(a.duration + 2), "--wait-stdin", "--drain", str(a.drain), "--max-poll-qps", str(a.max_poll_qps)] + cargv,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=churn_log, text=True, start_new_session=True)
    e2e.PROCS.append(client)
    e2e.write_pids(a.work)
    line = client.stdout.readline().strip()
    if line != "READY":
        raise SystemExit("churn client for %s did not get ready (%r); see %s-churn.log" % (tag, line, tag))
    ready_s = time.monotonic() - t0
    r = ask(port, "svc1.service.consul", "SRV", True)
    log("%s %d: ready in %.1f s; svc1.service.consul SRV: %s" % (which, size, ready_s, r and r[0]))
    quiet = measure(a, which, server, port, 1)
    client.stdin.write("go\n")
    client.stdin.flush()
    time.sleep(1)
    t0, c0, th0 = time.monotonic(), e2e.cpu_ticks(client.pid), e2e.thread_ticks(server.pid)
    churn = measure(a, which, server, port, 2)
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
    rest = client.stdout.read()
    client.wait(a.duration + a.drain + 60)
    lines = [x for x in rest.splitlines() if x.startswith("CHURN ")]
    if not lines:
        raise SystemExit("churn client for %s printed no summary; see %s-churn.log" % (tag, tag))
    c = parse_churn(lines[-1])
    after = measure(a, which, server, port, 3)
    log("%s %d: quiet %.0f / %.0f q/s, churn %.0f q/s (%.1f%%); %s" % (
        which, size, quiet["qps"], after["qps"], churn["qps"], drop(quiet, churn, after), lines[-1]))
    stop(client, a.work)
    stop(server, a.work)
    return {"size": size, "server": which, "ready_s": ready_s, "quiet": quiet, "churn": churn,
            "quiet_after": after, "client": c,
            "client_cpu": client_cpu, "control_cpu": control_cpu,
            "summary": lines[-1]}


def drop(quiet, churn, after):
    """Churn q/s against the mean of the quiet runs before and after, in %."""
    return 100 * (churn["qps"] / ((quiet["qps"] + after["qps"]) / 2) - 1)


def fmt(v, spec="%.1f"):
    if v is None or v != v:
        return "n/a"
    return "inf" if v == float("inf") else spec % v


def report(a, rows, info):
    t = []
    t.append("# Churn benchmark, %s\n" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    t.append("Machine: %d CPUs, %s, kernel %s; %s; git %s.%s\n" % (
        info["nproc"], info["model"], info["kernel"], info["knot"], a.git,
        (" " + a.note) if a.note else ""))
    t.append("`bash bench/e2e/churn.sh --duration %g --rate %g --sizes %s --nodes %d --outstanding %d "
             "--coalesce %s --max-poll-qps %d`: each server pinned to CPU 0 (svcdns `--workers 1 --coalesce %s`, Knot 1 UDP + 1 "
             "background worker), loadgen.cc (%d outstanding) pinned to CPU 1 for %g s quiet, then %g s while "
             "`churn_client` (also on CPU 1) sends %g updates/s of one change each: to svcdns over %d agent "
             "streams (50%% check flips, 25%% new instances, 25%% deletions), to Knot as RFC 2136 UPDATEs over "
             "UDP (the same changes as one SRV record added or deleted). Ack: update sent -> its Ack (svcdns) or "
             "UPDATE response (Knot), every update. Visible: update sent -> first UDP SRV answer that reflects it, "
             "for every 10th update (each pending one polled every 1 ms, less often when that would be "
             "more than %d polls/s in all). Then the quiet load again, once the churn client is done; the drop "
             "is the churn q/s against the mean of the two quiet runs. Latency percentiles are over every update sent (sampled), "
             "an update not acked (visible) by the end of the %g s drain counting as infinitely late (inf).\n" % (
                 a.duration, a.rate, a.sizes, a.nodes, a.outstanding, a.coalesce, a.max_poll_qps, a.coalesce, a.outstanding,
                 a.duration, a.duration, a.rate, a.nodes, a.max_poll_qps, a.drain))
    t.append("| instances | server | quiet q/s before / after | churn q/s | drop | updates sent/s | acked in window/s | "
             "ack p50 / p99 / max ms | visible p50 / p99 / max ms (n) | unacked after drain | not seen visible | "
             "publications | server CPU quiet / churn | control plane CPU (µs/update) | load CPU quiet / churn | "
             "churn client CPU |")
    t.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, q, ch, qa = r["client"], r["quiet"], r["churn"], r["quiet_after"]
        t.append("| %d | %s | %.0f / %.0f | %.0f | %+.1f%% | %.0f | %.0f | %s / %s / %s | %s / %s / %s (%d) | %d | %d | %s | "
                 "%.0f%% / %.0f%% | %s | %.0f%% / %.0f%% | %.0f%% |" % (
                     r["size"], r["server"], q["qps"], qa["qps"], ch["qps"], drop(q, ch, qa),
                     c["send_rate"], c["ack_rate_in_window"], fmt(c["ack_all_p50_ms"]), fmt(c["ack_all_p99_ms"]),
                     fmt(c["ack_all_max_ms"]), fmt(c["vis_all_p50_ms"]), fmt(c["vis_all_p99_ms"]),
                     fmt(c["vis_all_max_ms"]), c["vis_all_n"], c["unacked"], c["vis_timeouts"] + c["vis_pending"],
                     c["publications"] if r["server"] == "svcdns" else "n/a", 100 * q["cpu"], 100 * ch["cpu"],
                     "n/a" if r["control_cpu"] is None else "%.0f%% (%.0f)" % (
                         100 * r["control_cpu"], 1e6 * r["control_cpu"] / max(c["send_rate"], 1)),
                     100 * q["load_cpu"], 100 * ch["load_cpu"], 100 * r["client_cpu"]))
    by = {(r["size"], r["server"]): r for r in rows}
    t.append("")
    for size in sorted({r["size"] for r in rows}):
        s, k = by.get((size, "svcdns")), by.get((size, "knot"))
        if s and k:
            t.append("- %d instances: churn q/s svcdns/Knot %.2f (quiet %.2f); visible p50 svcdns/Knot %s; "
                     "ack p50 svcdns/Knot %s." % (
                         size, s["churn"]["qps"] / k["churn"]["qps"], s["quiet"]["qps"] / k["quiet"]["qps"],
                         fmt(s["client"]["vis_all_p50_ms"] / k["client"]["vis_all_p50_ms"], "%.1fx")
                         if k["client"]["vis_all_p50_ms"] else "n/a",
                         fmt(s["client"]["ack_all_p50_ms"] / k["client"]["ack_all_p50_ms"], "%.1fx")
                         if k["client"]["ack_all_p50_ms"] else "n/a"))
    t.append("\nRaw summary lines of the churn client:\n")
    t.append("```")
    for r in rows:
        t.append("%s %d: %s" % (r["server"], r["size"], r["summary"]))
    t.append("```\n")
    return "\n".join(t) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--svcdns", required=True)
    p.add_argument("--churn-client", required=True)
    p.add_argument("--loadgen-bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--duration", type=float, default=20)
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
