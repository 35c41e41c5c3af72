#!/usr/bin/env python3
"""Generates the end-to-end benchmark inputs (stdlib only, fixed seed).

  catalog.json   svcdns --catalog (protobuf JSON mapping of svcdns.v1.Catalog)
  consul.zone    the same answers as a zone file for `consul.` (Knot, NSD)
  queries.txt    the query mix, "name TYPE EDNS" (EDNS 0/1), one a line
  queries.bin    the same queries as dnsperf -B input (2-byte length + wire)

Catalog: S services svcK x I instances on N nodes nodeK (10.0.x.y), T tags
each (--tags-per-instance, default 2) from tag0..tag9, a share of instances
(--critical-share, default 0.1) with a critical check (left out of every
answer, as svcdns does). The zone holds exactly what svcdns answers for the
names in the mix: svcK.service.consul A and SRV (priority 1, weight 1, target
<node>.node.dc1.consul.), the targets' A records, <tag>.svcK.service.consul
A, nodeK.node.consul A when the mix asks for nodes, the apex SOA (minimum 0)
and NS, TTL 0 everywhere.

With --one-per-node (the large-SRV run): instance k of the catalog on node k
(so N = S x I nodes and every SRV target has its own address), none critical.

Query mix (--mix A,SRV,TAG,NODE,NX in percent, default 60,20,10,0,10): A
svcK.service.consul, SRV svcK.service.consul, A <tag>.svcK.service.consul,
A nodeK.node.consul, A of names that do not exist; letter case randomised;
a share of the queries (--edns-share, default 0.5) with EDNS (OPT, 1232
bytes). The defaults are the issue's mix.
"""
import argparse
import json
import os
import random
import struct

TAG_POOL = 10
MIX_KINDS = ("a", "srv", "tag", "node", "nx")
DEFAULT_MIX = "60,20,10,0,10"


def parse_mix(text):
    """'60,20,10,0,10' -> {"a": 0.6, ...}: five percentages that add up to 100."""
    parts = text.split(",")
    if len(parts) != len(MIX_KINDS):
        raise ValueError("--mix needs %d percentages (%s), not %r" % (
            len(MIX_KINDS), ",".join(k.upper() for k in MIX_KINDS), text))
    values = [float(p) for p in parts]
    if any(v < 0 for v in values) or abs(sum(values) - 100) > 1e-6:
        raise ValueError("--mix percentages must be >= 0 and add up to 100, not %r" % text)
    return {k: v / 100 for k, v in zip(MIX_KINDS, values)}


def shape_error(a):
    """What is wrong with the shape flags of `a` (gen.py's or e2e.py's), or None."""
    try:
        parse_mix(a.mix)
    except ValueError as e:
        return str(e)
    if not 0 <= a.tags_per_instance <= TAG_POOL:
        return "--tags-per-instance must be 0 to %d" % TAG_POOL
    if not 0 <= a.critical_share <= 1 or not 0 <= a.edns_share <= 1:
        return "--critical-share and --edns-share are shares: 0 to 1"
    return None


def describe_mix(mix, edns_share):
    names = {"a": "A `svcN.service.consul`", "srv": "SRV `svcN.service.consul`",
             "tag": "A `<tag>.svcN.service.consul`", "node": "A `nodeN.node.consul`",
             "nx": "A of names that do not exist (NXDOMAIN)"}
    kinds = ", ".join("%g%% %s" % (100 * mix[k], names[k]) for k in MIX_KINDS if mix[k] > 0)
    return "%s; letter case randomised; %g%% of the queries (at random) with EDNS (OPT 1232)" % (
        kinds, 100 * edns_share)


def node_address(i):
    return "10.%d.%d.%d" % ((i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF)


def generate(services, per_service, nodes, seed, one_per_node=False, tags_per_instance=2,
             critical_share=0.1):
    rng = random.Random(seed)
    node_states = [{"node": {"name": "node%d" % i, "address": node_address(i),
                             "datacenter": "dc1"},
                    "services": [], "checks": []} for i in range(nodes)]
    healthy = {}  # service -> list of (node index, port, tags)
    for s in range(services):
        name = "svc%d" % s
        healthy[name] = []
        for k in range(per_service):
            n = s * per_service + k if one_per_node else rng.randrange(nodes)
            port = 20000 + rng.randrange(10000)
            tags = []
            if tags_per_instance > 0:
                t1 = rng.randrange(TAG_POOL)
                picked = [t1]
                while len(picked) < tags_per_instance:
                    t = (t1 + 1 + rng.randrange(TAG_POOL - 1)) % TAG_POOL
                    if t not in picked:
                        picked.append(t)
                tags = ["tag%d" % t for t in picked]
            sid = "%s-%d" % (name, k)
            node_states[n]["services"].append(
                {"id": sid, "name": name, "tags": tags, "port": port})
            if not one_per_node and rng.random() < critical_share:
                node_states[n]["checks"].append(
                    {"id": "check-" + sid, "name": "check", "serviceId": sid,
                     "status": "HEALTH_STATUS_CRITICAL"})
            else:
                healthy[name].append((n, port, tags))
    catalog = {"index": "1", "nodes": [ns for ns in node_states]}
    return catalog, healthy


def zone_text(healthy, nodes, serial=1, node_names=False):
    out = ["$ORIGIN consul.", "$TTL 0",
           "@ 0 IN SOA ns.consul. hostmaster.consul. %d 3600 600 86400 0" % serial,
           "@ 0 IN NS ns.consul.",
           "ns.consul. 0 IN A 127.0.0.1"]
    targets = set()
    for name, insts in healthy.items():
        owner = "%s.service.consul." % name
        addrs = sorted({node_address(n) for n, _, _ in insts})
        for a in addrs:
            out.append("%s 0 IN A %s" % (owner, a))
        for n, port, _ in insts:
            out.append("%s 0 IN SRV 1 1 %d node%d.node.dc1.consul." % (owner, port, n))
            targets.add(n)
        by_tag = {}
        for n, _, tags in insts:
            for t in tags:
                by_tag.setdefault(t, set()).add(node_address(n))
        for t in sorted(by_tag):
            for a in sorted(by_tag[t]):
                out.append("%s.%s 0 IN A %s" % (t, owner, a))
    for n in sorted(targets):
        out.append("node%d.node.dc1.consul. 0 IN A %s" % (n, node_address(n)))
    if node_names:  # every node, in the local datacenter's short form
        for n in range(nodes):
            out.append("node%d.node.consul. 0 IN A %s" % (n, node_address(n)))
    return "\n".join(out) + "\n"


def random_case(rng, s):
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in s)


def wire(name, qtype, edns):
    code = {"A": 1, "SRV": 33, "SOA": 6, "NS": 2}[qtype]
    w = struct.pack(">HHHHHH", 0, 0x0100, 1, 0, 0, 1 if edns else 0)
    for label in name.rstrip(".").split("."):
        w += bytes([len(label)]) + label.encode()
    w += b"\0" + struct.pack(">HH", code, 1)
    if edns:
        w += b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return w


def queries(healthy, count, seed, nodes, mix=None, edns_share=0.5):
    mix = mix or parse_mix(DEFAULT_MIX)
    rng = random.Random(seed + 1)
    names = list(healthy)
    # Cumulative bounds, in MIX_KINDS order.
    bounds, total = [], 0.0
    for k in MIX_KINDS:
        total += mix[k]
        bounds.append(total)
    out = []
    for i in range(count):
        r = rng.random()
        svc = rng.choice(names)
        if r < bounds[0]:
            q = ("%s.service.consul" % svc, "A")
        elif r < bounds[1]:
            q = ("%s.service.consul" % svc, "SRV")
        elif r < bounds[2]:
            insts = healthy[svc]
            tags = rng.choice(insts)[2] if insts else []
            tag = rng.choice(tags) if tags else "tag0"
            q = ("%s.%s.service.consul" % (tag, svc), "A")
        elif r < bounds[3]:
            q = ("node%d.node.consul" % rng.randrange(nodes), "A")
        else:
            q = ("nosuch%d.service.consul" % rng.randrange(1 << 30), "A")
        out.append((random_case(rng, q[0]), q[1], 1 if rng.random() < edns_share else 0))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--instances-per-service", type=int, default=3)
    p.add_argument("--nodes", type=int, default=300)
    p.add_argument("--queries", type=int, default=100000, help="queries in the file")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--no-queries", action="store_true", help="catalog and zone only")
    p.add_argument("--one-per-node", action="store_true",
                   help="each instance on its own node (--nodes is S x I), none critical")
    p.add_argument("--tags-per-instance", type=int, default=2, help="0 to %d" % TAG_POOL)
    p.add_argument("--critical-share", type=float, default=0.1,
                   help="share of instances with a critical check (0 to 1)")
    p.add_argument("--mix", default=DEFAULT_MIX, help="percent A,SRV,TAG,NODE,NX")
    p.add_argument("--edns-share", type=float, default=0.5, help="share of queries with EDNS (0 to 1)")
    a = p.parse_args()
    error = shape_error(a)
    if error:
        p.error(error)
    mix = parse_mix(a.mix)
    if a.one_per_node:
        a.nodes = a.services * a.instances_per_service
    os.makedirs(a.out, exist_ok=True)
    catalog, healthy = generate(a.services, a.instances_per_service, a.nodes, a.seed, a.one_per_node,
                                a.tags_per_instance, a.critical_share)
    with open(os.path.join(a.out, "catalog.json"), "w") as f:
        json.dump(catalog, f, separators=(",", ":"))
    with open(os.path.join(a.out, "consul.zone"), "w") as f:
        f.write(zone_text(healthy, a.nodes, node_names=mix["node"] > 0))
    if a.no_queries:
        return
    qs = queries(healthy, a.queries, a.seed, a.nodes, mix, a.edns_share)
    with open(os.path.join(a.out, "queries.txt"), "w") as f:
        for name, t, e in qs:
            f.write("%s %s %d\n" % (name, t, e))
    with open(os.path.join(a.out, "queries.bin"), "wb") as f:
        for name, t, e in qs:
            w = wire(name, t, e)
            f.write(struct.pack(">H", len(w)) + w)
    inst = sum(len(v) for v in healthy.values())
    print("services=%d instances=%d (healthy %d) nodes=%d queries=%d" % (
        a.services, a.services * a.instances_per_service, inst, a.nodes, len(qs)))


if __name__ == "__main__":
    main()
