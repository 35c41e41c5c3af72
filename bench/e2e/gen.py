#!/usr/bin/env python3
"""Generates the end-to-end benchmark inputs (stdlib only, fixed seed).

  catalog.json   svcdns --catalog (protobuf JSON mapping of svcdns.v1.Catalog)
  consul.zone    the same answers as a zone file for `consul.` (Knot, NSD)
  queries.txt    the query mix, "name TYPE EDNS" (EDNS 0/1), one a line
  queries.bin    the same queries as dnsperf -B input (2-byte length + wire)

Catalog: S services svcK x I instances on N nodes nodeK (10.0.x.y), two tags
each from tag0..tag9, ~10% of instances with a critical check (left out of
every answer, as svcdns does). The zone holds exactly what svcdns answers for
the names in the mix: svcK.service.consul A and SRV (priority 1, weight 1,
target <node>.node.dc1.consul.), the targets' A records, <tag>.svcK.service
.consul A, the apex SOA (minimum 0) and NS, TTL 0 everywhere.

With --one-per-node (the large-SRV run): instance k of the catalog on node k
(so N = S x I nodes and every SRV target has its own address), none critical.

Query mix: 60% A svcK.service.consul, 20% SRV svcK.service.consul, 10% A
<tag>.svcK.service.consul, 10% A of names that do not exist; letter case
randomised; half of the queries with EDNS (OPT, 1232 bytes).
"""
import argparse
import json
import os
import random
import struct

TAG_POOL = 10


def node_address(i):
    return "10.%d.%d.%d" % ((i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF)


def generate(services, per_service, nodes, seed, one_per_node=False):
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
            t1 = rng.randrange(TAG_POOL)
            t2 = (t1 + 1 + rng.randrange(TAG_POOL - 1)) % TAG_POOL
            tags = ["tag%d" % t1, "tag%d" % t2]
            sid = "%s-%d" % (name, k)
            node_states[n]["services"].append(
                {"id": sid, "name": name, "tags": tags, "port": port})
            if rng.randrange(10) == 0 and not one_per_node:
                node_states[n]["checks"].append(
                    {"id": "check-" + sid, "name": "check", "serviceId": sid,
                     "status": "HEALTH_STATUS_CRITICAL"})
            else:
                healthy[name].append((n, port, tags))
    catalog = {"index": "1", "nodes": [ns for ns in node_states]}
    return catalog, healthy


def zone_text(healthy, nodes, serial=1):
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


def queries(healthy, count, seed):
    rng = random.Random(seed + 1)
    names = list(healthy)
    out = []
    for i in range(count):
        r = rng.random()
        svc = rng.choice(names)
        if r < 0.6:
            q = ("%s.service.consul" % svc, "A")
        elif r < 0.8:
            q = ("%s.service.consul" % svc, "SRV")
        elif r < 0.9:
            insts = healthy[svc]
            tag = rng.choice(rng.choice(insts)[2]) if insts else "tag0"
            q = ("%s.%s.service.consul" % (tag, svc), "A")
        else:
            q = ("nosuch%d.service.consul" % rng.randrange(1 << 30), "A")
        out.append((random_case(rng, q[0]), q[1], 1 if rng.random() < 0.5 else 0))
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
    a = p.parse_args()
    if a.one_per_node:
        a.nodes = a.services * a.instances_per_service
    os.makedirs(a.out, exist_ok=True)
    catalog, healthy = generate(a.services, a.instances_per_service, a.nodes, a.seed, a.one_per_node)
    with open(os.path.join(a.out, "catalog.json"), "w") as f:
        json.dump(catalog, f, separators=(",", ":"))
    with open(os.path.join(a.out, "consul.zone"), "w") as f:
        f.write(zone_text(healthy, a.nodes))
    if a.no_queries:
        return
    qs = queries(healthy, a.queries, a.seed)
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
