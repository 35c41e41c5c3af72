#!/usr/bin/env python3
"""The e2e benchmark's generator (bench/e2e/gen.py): the catalog and query-mix
flags that let others redo the comparison on other shapes."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "e2e"))
import gen  # noqa: E402


def kind(name, qtype):
    name = name.lower()
    if qtype == "SRV":
        return "srv"
    if name.startswith("nosuch"):
        return "nx"
    if name.endswith(".node.consul"):
        return "node"
    return "tag" if name.count(".") == 3 else "a"


class MixTest(unittest.TestCase):
    def shares(self, qs):
        counts = {k: 0 for k in gen.MIX_KINDS}
        for name, qtype, _ in qs:
            counts[kind(name, qtype)] += 1
        return {k: v / len(qs) for k, v in counts.items()}

    def test_default_mix_is_the_issues(self):
        _, healthy = gen.generate(100, 3, 30, seed=1)
        qs = gen.queries(healthy, 20000, seed=1, nodes=30)
        for k, want in zip(gen.MIX_KINDS, (0.6, 0.2, 0.1, 0.0, 0.1)):
            self.assertAlmostEqual(self.shares(qs)[k], want, delta=0.015, msg=k)
        self.assertAlmostEqual(sum(e for _, _, e in qs) / len(qs), 0.5, delta=0.015)

    def test_other_mix_and_edns_share(self):
        _, healthy = gen.generate(100, 3, 30, seed=2)
        mix = gen.parse_mix("20,30,10,30,10")
        qs = gen.queries(healthy, 20000, seed=2, nodes=30, mix=mix, edns_share=1)
        for k in gen.MIX_KINDS:
            self.assertAlmostEqual(self.shares(qs)[k], mix[k], delta=0.015, msg=k)
        self.assertTrue(all(e == 1 for _, _, e in qs))
        nodes = {int(re.match(r"node(\d+)\.", n.lower()).group(1)) for n, t, _ in qs if kind(n, t) == "node"}
        self.assertTrue(nodes <= set(range(30)))

    def test_bad_mixes_are_refused(self):
        for text in ("60,20,10,10", "60,20,10,0,20", "70,20,10,10,-10", "a,b,c,d,e"):
            with self.assertRaises(ValueError, msg=text):
                gen.parse_mix(text)


class CatalogTest(unittest.TestCase):
    def test_tags_per_instance(self):
        for n in (0, 1, 3, gen.TAG_POOL):
            catalog, _ = gen.generate(50, 4, 10, seed=3, tags_per_instance=n)
            for node in catalog["nodes"]:
                for s in node["services"]:
                    self.assertEqual(len(s["tags"]), n)
                    self.assertEqual(len(set(s["tags"])), n)

    def test_critical_share(self):
        for share in (0.0, 0.3, 1.0):
            catalog, healthy = gen.generate(200, 5, 20, seed=4, critical_share=share)
            critical = sum(len(n["checks"]) for n in catalog["nodes"])
            self.assertAlmostEqual(critical / 1000, share, delta=0.05)
            self.assertEqual(critical + sum(len(v) for v in healthy.values()), 1000)

    def test_zone_holds_the_healthy_instances_and_nodes_when_asked(self):
        catalog, healthy = gen.generate(20, 3, 8, seed=5, critical_share=0.5)
        plain = gen.zone_text(healthy, 8)
        with_nodes = gen.zone_text(healthy, 8, node_names=True)
        self.assertNotIn(".node.consul. 0 IN A", plain)
        for i in range(8):
            self.assertIn("node%d.node.consul. 0 IN A %s" % (i, gen.node_address(i)), with_nodes)
        srv = [l for l in plain.splitlines() if " IN SRV " in l]
        self.assertEqual(len(srv), sum(len(v) for v in healthy.values()))
        for node in catalog["nodes"]:
            for check in node["checks"]:  # a critical instance is in no answer
                port = next(s["port"] for s in node["services"] if s["id"] == check["serviceId"])
                name = check["serviceId"].rsplit("-", 1)[0]
                self.assertNotIn("%s.service.consul. 0 IN SRV 1 1 %d %s." % (
                    name, port, node["node"]["name"] + ".node.dc1.consul"), plain)


if __name__ == "__main__":
    unittest.main(verbosity=2)
