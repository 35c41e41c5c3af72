// A whole multi-datacenter catalog (--catalog deploy/examples/catalog.json,
// and small catalogs of our own): datacenters, health, node records.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

namespace svcdns::testing::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

std::unique_ptr<DnsReply> Ask(const ServerProcess& server, const std::string& name,
                              ldns_rr_type type, const QueryOptions& options = {}) {
  auto reply = Query("127.0.0.1", server.port(), name, type, options);
  EXPECT_TRUE(reply.ok()) << name << ": " << reply.status();
  return reply.ok() ? std::move(*reply) : nullptr;
}

TEST(CatalogTest, DatacenterQualifiedNames) {
  SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog()});
  for (const char* name : {"postgresql.service.dc2.dc.consul", "postgresql.service.dc2.consul",
                           "replica.postgresql.service.dc2.consul",
                           "replica.postgresql.service.dc2.dc.consul",
                           "_postgresql._replica.service.dc2.dc.consul",
                           "postgresql.service.DC2.consul"}) {
    SCOPED_TRACE(name);
    auto r = Ask(*server, name, LDNS_RR_TYPE_SRV);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
    EXPECT_TRUE(r->aa());
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 5432 db2.node.dc2.consul."));
    EXPECT_THAT(r->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("192.0.2.40"));
  }
  // Without a datacenter: the local one (dc1) only.
  auto local = Ask(*server, "postgresql.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(local, nullptr);
  EXPECT_THAT(local->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 5432 db1.node.dc1.consul."));
  EXPECT_THAT(local->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("10.0.3.30"));
  auto explicit_local = Ask(*server, "postgresql.service.dc1.dc.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(explicit_local, nullptr);
  EXPECT_THAT(explicit_local->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.0.3.30"));

  // A tag only dc2 has is not in dc1.
  auto replica_local = Ask(*server, "replica.postgresql.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(replica_local, nullptr);
  EXPECT_EQ(replica_local->rcode(), LDNS_RCODE_NXDOMAIN);

  // Node names in another datacenter.
  auto db2 = Ask(*server, "db2.node.dc2.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(db2, nullptr);
  EXPECT_THAT(db2->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("192.0.2.40"));
  auto db2_local = Ask(*server, "db2.node.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(db2_local, nullptr);
  EXPECT_EQ(db2_local->rcode(), LDNS_RCODE_NXDOMAIN);

  // The datacenters themselves exist.
  for (const char* name : {"dc2.dc.consul", "dc2.consul", "dc1.dc.consul"}) {
    auto r = Ask(*server, name, LDNS_RR_TYPE_A);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR) << name;
    EXPECT_THAT(r->Answer(), IsEmpty()) << name;
    EXPECT_TRUE(HasSoaInAuthority(*r)) << name;
  }
}

TEST(CatalogTest, UnknownDatacenterIsNxDomain) {
  SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog()});
  for (const char* name : {"web.service.dc9.dc.consul", "web.service.dc9.consul",
                           "web1.node.dc9.consul", "dc9.dc.consul", "dc9.consul",
                           "0a000a0a.addr.dc9.consul", "service.dc9.dc.consul"}) {
    auto r = Ask(*server, name, LDNS_RR_TYPE_A);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NXDOMAIN) << name;
    EXPECT_TRUE(r->aa()) << name;
    EXPECT_TRUE(HasSoaInAuthority(*r)) << name;
  }
}

TEST(CatalogTest, CriticalInstanceIsLeftOut) {
  SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog()});
  // web2's instance (v2) is critical: only web1's is served.
  auto srv = Ask(*server, "web.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(srv->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 8080 web1.node.dc1.consul."));
  EXPECT_THAT(srv->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("10.0.1.10"));
  auto a = Ask(*server, "web.service.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(a->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.0.1.10"));
  // No healthy v2 instance: NXDOMAIN, as in Consul.
  auto v2 = Ask(*server, "v2.web.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->rcode(), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(HasSoaInAuthority(*v2));
  // The node itself is still known.
  auto node = Ask(*server, "web2.node.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(node, nullptr);
  EXPECT_THAT(node->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.0.1.11"));
  // A warning instance (db1's node check warns) is served without --only-passing.
  auto pg = Ask(*server, "postgresql.service.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(pg->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.0.3.30"));
}

TEST(CatalogTest, CriticalNodeCheckLeavesOutAllItsInstances) {
  TempDir dir;
  std::string catalog = dir.Write("catalog.json", R"json({
  "index": 5,
  "nodes": [
    {
      "node": {"name": "a1", "address": "10.1.0.1", "datacenter": "dc1"},
      "services": [
        {"id": "api-1", "name": "api", "port": 80},
        {"id": "db-1", "name": "db", "port": 5432}
      ],
      "checks": [
        {"id": "serfHealth", "name": "alive", "status": "HEALTH_STATUS_CRITICAL"},
        {"id": "api-1-http", "name": "http", "serviceId": "api-1", "status": "HEALTH_STATUS_PASSING"}
      ]
    },
    {
      "node": {"name": "a2", "address": "10.1.0.2", "datacenter": "dc1"},
      "services": [{"id": "api-2", "name": "api", "port": 81}],
      "checks": [
        {"id": "serfHealth", "name": "alive", "status": "HEALTH_STATUS_PASSING"}
      ]
    }
  ]
})json");
  SVCDNS_START_SERVER(server, {"--catalog", catalog});
  auto api = Ask(*server, "api.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(api->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 81 a2.node.dc1.consul."));
  auto db = Ask(*server, "db.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->rcode(), LDNS_RCODE_NXDOMAIN);
}

TEST(CatalogTest, NodeMetaAsTxt) {
  SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog()});
  auto r = Ask(*server, "web1.node.consul", LDNS_RR_TYPE_TXT);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(r->aa());
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_TXT),
              UnorderedElementsAre("\"os=debian12\"", "\"rack=r1\""));
  auto dc2 = Ask(*server, "mon1.node.dc2.dc.consul", LDNS_RR_TYPE_TXT);
  ASSERT_NE(dc2, nullptr);
  EXPECT_THAT(dc2->AnswerRdata(LDNS_RR_TYPE_TXT),
              UnorderedElementsAre("\"ipv6-only=true\"", "\"rack=b2\""));
}

TEST(CatalogTest, Ipv6Node) {
  SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog()});
  auto aaaa = Ask(*server, "mon1.node.dc2.consul", LDNS_RR_TYPE_AAAA);
  ASSERT_NE(aaaa, nullptr);
  EXPECT_EQ(aaaa->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(aaaa->AnswerRdata(LDNS_RR_TYPE_AAAA), ElementsAre("2001:db8::10"));
  // No IPv4 address: NODATA.
  auto a = Ask(*server, "mon1.node.dc2.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(a->Answer(), IsEmpty());
  EXPECT_TRUE(HasSoaInAuthority(*a));
  // Its service: AAAA, and SRV with an AAAA in the additional section.
  auto svc = Ask(*server, "prometheus.service.dc2.consul", LDNS_RR_TYPE_AAAA);
  ASSERT_NE(svc, nullptr);
  EXPECT_THAT(svc->AnswerRdata(LDNS_RR_TYPE_AAAA), ElementsAre("2001:db8::10"));
  auto srv = Ask(*server, "prometheus.service.dc2.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(srv, nullptr);
  EXPECT_THAT(srv->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 9090 mon1.node.dc2.consul."));
  EXPECT_THAT(srv->AdditionalRdata(LDNS_RR_TYPE_AAAA), ElementsAre("2001:db8::10"));
  // Reverse (ip6.arpa).
  auto ptr = Ask(*server,
                 "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                 LDNS_RR_TYPE_PTR);
  ASSERT_NE(ptr, nullptr);
  EXPECT_EQ(ptr->rcode(), LDNS_RCODE_NOERROR);
  // Reverse names point into the primary domain at the node's datacenter.
  EXPECT_THAT(ptr->AnswerRdata(LDNS_RR_TYPE_PTR), ElementsAre("mon1.node.dc2.consul."));
}

TEST(CatalogTest, OnlyPassingDropsWarningInstances) {
  {
    SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog(), "--only-passing"});
    // db1's node check warns: its postgresql instance goes.
    auto pg = Ask(*server, "postgresql.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_NE(pg, nullptr);
    EXPECT_EQ(pg->rcode(), LDNS_RCODE_NXDOMAIN);
    // Passing instances stay.
    auto web = Ask(*server, "web.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_NE(web, nullptr);
    EXPECT_THAT(web->AnswerRdata(LDNS_RR_TYPE_SRV),
                ElementsAre("1 1 8080 web1.node.dc1.consul."));
    auto dc2 = Ask(*server, "postgresql.service.dc2.consul", LDNS_RR_TYPE_SRV);
    ASSERT_NE(dc2, nullptr);
    EXPECT_THAT(dc2->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 5432 db2.node.dc2.consul."));
  }
  // A service check that warns, next to a passing instance; weights follow health.
  TempDir dir;
  std::string catalog = dir.Write("catalog.json", R"json({
  "nodes": [
    {
      "node": {"name": "w1", "address": "10.2.0.1"},
      "services": [{"id": "s1", "name": "svc", "port": 1001,
                    "weights": {"passing": 10, "warning": 2}}],
      "checks": [{"id": "c1", "name": "c", "serviceId": "s1", "status": "HEALTH_STATUS_WARNING"}]
    },
    {
      "node": {"name": "w2", "address": "10.2.0.2"},
      "services": [{"id": "s2", "name": "svc", "port": 1002,
                    "weights": {"passing": 10, "warning": 2}}],
      "checks": [{"id": "c2", "name": "c", "serviceId": "s2", "status": "HEALTH_STATUS_PASSING"}]
    }
  ]
})json");
  {
    SVCDNS_START_SERVER(server, {"--catalog", catalog});
    auto r = Ask(*server, "svc.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_NE(r, nullptr);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV),
                UnorderedElementsAre("1 2 1001 w1.node.dc1.consul.",
                                     "1 10 1002 w2.node.dc1.consul."));
  }
  {
    SVCDNS_START_SERVER(server, {"--catalog", catalog, "--only-passing"});
    auto r = Ask(*server, "svc.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_NE(r, nullptr);
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 10 1002 w2.node.dc1.consul."));
    auto a = Ask(*server, "svc.service.consul", LDNS_RR_TYPE_A);
    ASSERT_NE(a, nullptr);
    EXPECT_THAT(a->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.2.0.2"));
  }
}

TEST(CatalogTest, ConfigDirAndCatalogTogether) {
  SVCDNS_START_SERVER(server, {"--catalog", ExampleCatalog(), "--config-dir",
                               ExampleServicesDir(), "--node", "demo"});
  // web: web1 from the catalog and demo's two instances.
  auto r = Ask(*server, "web.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(r, nullptr);
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV),
              UnorderedElementsAre("1 1 8080 web1.node.dc1.consul.",
                                   "1 1 8080 demo.node.dc1.consul.",
                                   "1 1 9080 demo.node.dc1.consul."));
  EXPECT_THAT(r->AdditionalRdata(LDNS_RR_TYPE_A), UnorderedElementsAre("10.0.1.10", "127.0.0.1"));
}

TEST(CatalogTest, ServiceWithAnIpv6Address) {
  TempDir dir;
  std::string catalog = dir.Write("catalog.json", R"json({"nodes": [
    {"node": {"name": "h1", "address": "10.4.0.1"},
     "services": [{"id": "v6-1", "name": "v6", "address": "2001:db8::1", "port": 443}]}]})json");
  SVCDNS_START_SERVER(server, {"--catalog", catalog});
  auto srv = Ask(*server, "v6.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(srv, nullptr);
  EXPECT_THAT(srv->AnswerRdata(LDNS_RR_TYPE_SRV),
              ElementsAre("1 1 443 20010db8000000000000000000000001.addr.dc1.consul."));
  EXPECT_THAT(srv->AdditionalRdata(LDNS_RR_TYPE_AAAA), ElementsAre("2001:db8::1"));
  auto aaaa = Ask(*server, "v6.service.consul", LDNS_RR_TYPE_AAAA);
  ASSERT_NE(aaaa, nullptr);
  EXPECT_THAT(aaaa->AnswerRdata(LDNS_RR_TYPE_AAAA), ElementsAre("2001:db8::1"));
  auto a = Ask(*server, "v6.service.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(a->Answer(), IsEmpty());
  auto addr = Ask(*server, "20010db8000000000000000000000001.addr.dc1.consul", LDNS_RR_TYPE_AAAA);
  ASSERT_NE(addr, nullptr);
  EXPECT_THAT(addr->AnswerRdata(LDNS_RR_TYPE_AAAA), ElementsAre("2001:db8::1"));
}

}  // namespace
}  // namespace svcdns::testing::integration
