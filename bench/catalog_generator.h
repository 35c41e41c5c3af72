// Synthetic catalogs and query packets for the micro benchmarks. Header-only:
// every bench/*_bench.cc is its own executable and there is no bench library.
//
// GenerateCatalog(n): n instances as ~n/3 services x 3 instances on
// max(n/10, 1) nodes, two tags each from a pool of 10, ~10% of instances with
// a critical check, IPv4 node addresses, names "svc123" and "node45". Fixed
// seed: the same n always gives the same catalog.
#ifndef SVCDNS_BENCH_CATALOG_GENERATOR_H_
#define SVCDNS_BENCH_CATALOG_GENERATOR_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "catalog/model.h"
#include "catalog/snapshot.h"
#include "catalog/snapshot_builder.h"

namespace svcdns::bench {

inline constexpr uint32_t kSeed = 20240601;
inline constexpr int kTagPool = 10;

inline std::string NodeAddress(size_t i) {
  // 10.0.0.0/8 from the node index: unique for up to 16M nodes.
  return "10." + std::to_string((i >> 16) & 0xFF) + "." + std::to_string((i >> 8) & 0xFF) +
         "." + std::to_string(i & 0xFF);
}

inline catalog::Catalog GenerateCatalog(size_t instances) {
  std::mt19937 rng(kSeed);
  catalog::Catalog c;
  c.index = 1;
  size_t node_count = std::max<size_t>(instances / 10, 1);
  c.nodes.resize(node_count);
  for (size_t i = 0; i < node_count; ++i) {
    catalog::NodeState& n = c.nodes[i];
    n.node.name = "node" + std::to_string(i);
    n.node.address = NodeAddress(i);
  }
  for (size_t k = 0; k < instances; ++k) {
    size_t svc = k / 3;
    catalog::NodeState& n = c.nodes[rng() % node_count];
    catalog::Service s;
    s.name = "svc" + std::to_string(svc);
    s.id = s.name + "-" + std::to_string(k % 3);
    s.port = static_cast<uint16_t>(20000 + rng() % 10000);
    int t1 = static_cast<int>(rng() % kTagPool);
    int t2 = static_cast<int>((t1 + 1 + rng() % (kTagPool - 1)) % kTagPool);  // != t1
    s.tags = {"tag" + std::to_string(t1), "tag" + std::to_string(t2)};
    if (rng() % 10 == 0) {
      catalog::Check check;
      check.id = "check-" + s.id;
      check.name = "check";
      check.service_id = s.id;
      check.status = catalog::Health::kCritical;
      n.checks.push_back(std::move(check));
    }
    n.services.push_back(std::move(s));
  }
  return c;
}

// Adds a service with `count` healthy instances on distinct nodes (as long as
// count <= nodes), with no tags and no checks: answers of a known size.
inline void AddFixedService(catalog::Catalog& c, const std::string& name, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    catalog::Service s;
    s.name = name;
    s.id = name + "-" + std::to_string(i);
    s.port = static_cast<uint16_t>(8000 + i % 1000);
    c.nodes[i % c.nodes.size()].services.push_back(std::move(s));
  }
}

inline std::unique_ptr<catalog::Snapshot> MustBuild(const catalog::Catalog& c) {
  auto snapshot = catalog::BuildSnapshot(c, catalog::SnapshotOptions{});
  if (!snapshot.ok()) {
    std::fprintf(stderr, "BuildSnapshot: %s\n", snapshot.status().ToString().c_str());
    std::abort();
  }
  return *std::move(snapshot);
}

// A query packet: id 0x1234, RD, one question; with EDNS, an OPT record
// offering `edns_size`.
inline std::string QueryWire(const std::string& name, uint16_t qtype, bool edns = false,
                             uint16_t edns_size = 1232) {
  std::string w = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, static_cast<char>(edns ? 1 : 0)};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    if (dot > start) {
      w.push_back(static_cast<char>(dot - start));
      w.append(name, start, dot - start);
    }
    start = dot + 1;
  }
  w.push_back(0);
  w.push_back(static_cast<char>(qtype >> 8));
  w.push_back(static_cast<char>(qtype));
  w.append({0, 1});  // IN
  if (edns) {
    w.append({0, 0, 41});  // root, OPT
    w.push_back(static_cast<char>(edns_size >> 8));
    w.push_back(static_cast<char>(edns_size));
    w.append({0, 0, 0, 0, 0, 0});  // ttl (rcode, version, flags), rdlength
  }
  return w;
}

}  // namespace svcdns::bench

#endif  // SVCDNS_BENCH_CATALOG_GENERATOR_H_
