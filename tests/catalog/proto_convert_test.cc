#include "catalog/proto_convert.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/catalog.pb.h"
#include "catalog/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace svcdns::catalog {
namespace {

using ::testing::HasSubstr;

NodeState MakeNodeState(const std::string& name, const std::string& address,
                        const std::string& datacenter) {
  NodeState state;
  state.node.name = name;
  state.node.address = address;
  state.node.datacenter = datacenter;
  return state;
}

// A catalog that uses every field of the model.
Catalog FullCatalog() {
  Catalog catalog;
  catalog.index = 1234567890123ULL;

  NodeState web1 = MakeNodeState("web1", "10.0.1.10", "dc1");
  web1.node.meta = {{"rack", "r1"}, {"os", "debian12"}};
  Service web;
  web.id = "web-v1";
  web.name = "web";
  web.tags = {"v1", "canary"};
  web.port = 8080;
  web.meta = {{"version", "1.4.2"}};
  web.weights = {.passing = 10, .warning = 2};
  web1.services.push_back(web);
  Service redis;
  redis.id = "red0";
  redis.name = "redis";
  redis.tags = {"primary"};
  redis.address = "10.3.13.112";
  redis.port = 65535;
  web1.services.push_back(redis);
  web1.checks.push_back(Check{.id = "web-v1-http",
                         .name = "HTTP",
                         .service_id = "web-v1",
                         .status = Health::kPassing,
                         .output = "HTTP 200 OK",
                         .notes = "GET /healthz"});
  web1.checks.push_back(Check{.id = "red0-ping",
                         .name = "PING",
                         .service_id = "red0",
                         .status = Health::kWarning});
  web1.checks.push_back(
      Check{.id = "serfHealth", .name = "alive", .status = Health::kCritical});
  catalog.nodes.push_back(web1);

  NodeState v6 = MakeNodeState("mon1", "2001:db8::10", "");
  Service prom;
  prom.id = "prometheus";
  prom.name = "prometheus";
  prom.port = 0;
  v6.services.push_back(prom);
  catalog.nodes.push_back(v6);
  return catalog;
}

svcdns::v1::NodeState ValidNodeProto(const std::string& name,
                                     const std::string& datacenter) {
  svcdns::v1::NodeState proto;
  proto.mutable_node()->set_name(name);
  proto.mutable_node()->set_address("10.0.0.1");
  proto.mutable_node()->set_datacenter(datacenter);
  svcdns::v1::Service* service = proto.add_services();
  service->set_id("red0");
  service->set_name("redis");
  service->set_port(6000);
  svcdns::v1::Check* check = proto.add_checks();
  check->set_id("red0-ping");
  check->set_service_id("red0");
  check->set_status(svcdns::v1::HEALTH_STATUS_PASSING);
  return proto;
}

// A catalog of four valid nodes, db0..db3 in dc1.
svcdns::v1::Catalog ValidCatalogProto() {
  svcdns::v1::Catalog proto;
  proto.set_index(7);
  for (int i = 0; i < 4; ++i) {
    *proto.add_nodes() = ValidNodeProto("db" + std::to_string(i), "dc1");
  }
  return proto;
}

TEST(ProtoConvertTest, ValidCatalogConverts) {
  absl::StatusOr<Catalog> catalog = CatalogFromProto(ValidCatalogProto());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(catalog->index, 7u);
  ASSERT_EQ(catalog->nodes.size(), 4u);
  EXPECT_EQ(catalog->nodes[3].node.name, "db3");
  EXPECT_EQ(catalog->nodes[3].status, NodeStatus::kAlive);
  ASSERT_EQ(catalog->nodes[3].services.size(), 1u);
  EXPECT_EQ(catalog->nodes[3].services[0]->port, 6000);
  ASSERT_EQ(catalog->nodes[3].checks.size(), 1u);
  EXPECT_EQ(catalog->nodes[3].checks[0]->status, Health::kPassing);
}

TEST(ProtoConvertTest, RoundTripModelToProtoToModel) {
  const Catalog original = FullCatalog();
  svcdns::v1::Catalog proto = CatalogToProto(original);
  absl::StatusOr<Catalog> back = CatalogFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->index, original.index);
  EXPECT_EQ(back->nodes, original.nodes);
}

TEST(ProtoConvertTest, RoundTripEachKind) {
  const Catalog catalog = FullCatalog();
  const NodeState& state = catalog.nodes[0];
  EXPECT_EQ(NodeFromProto(NodeToProto(state.node)), state.node);
  for (const Service& service : state.services) {
    absl::StatusOr<Service> back = ServiceFromProto(ServiceToProto(service));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, service);
  }
  for (const Check& check : state.checks) {
    absl::StatusOr<Check> back = CheckFromProto(CheckToProto(check));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, check);
  }
  absl::StatusOr<NodeState> back = NodeStateFromProto(NodeStateToProto(state));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, state);
}

TEST(ProtoConvertTest, ToProtoFields) {
  const Catalog catalog = FullCatalog();
  svcdns::v1::Catalog proto = CatalogToProto(catalog);
  EXPECT_EQ(proto.index(), 1234567890123ULL);
  ASSERT_EQ(proto.nodes_size(), 2);
  const svcdns::v1::NodeState& web1 = proto.nodes(0);
  EXPECT_EQ(web1.node().name(), "web1");
  EXPECT_EQ(web1.node().meta().at("rack"), "r1");
  ASSERT_EQ(web1.services_size(), 2);
  EXPECT_EQ(web1.services(0).tags_size(), 2);
  EXPECT_EQ(web1.services(0).tags(1), "canary");
  EXPECT_TRUE(web1.services(0).has_weights());
  EXPECT_EQ(web1.services(0).weights().passing(), 10u);
  EXPECT_EQ(web1.services(0).weights().warning(), 2u);
  EXPECT_FALSE(web1.services(1).has_weights());  // the default, left out
  EXPECT_EQ(web1.services(1).address(), "10.3.13.112");
  EXPECT_EQ(web1.services(1).port(), 65535u);
  ASSERT_EQ(web1.checks_size(), 3);
  EXPECT_EQ(web1.checks(0).status(), svcdns::v1::HEALTH_STATUS_PASSING);
  EXPECT_EQ(web1.checks(1).status(), svcdns::v1::HEALTH_STATUS_WARNING);
  EXPECT_EQ(web1.checks(2).status(), svcdns::v1::HEALTH_STATUS_CRITICAL);
  EXPECT_EQ(web1.checks(2).service_id(), "");
}

TEST(ProtoConvertTest, HealthConversions) {
  EXPECT_EQ(HealthFromProto(svcdns::v1::HEALTH_STATUS_PASSING).value(),
            Health::kPassing);
  EXPECT_EQ(HealthFromProto(svcdns::v1::HEALTH_STATUS_WARNING).value(),
            Health::kWarning);
  EXPECT_EQ(HealthFromProto(svcdns::v1::HEALTH_STATUS_CRITICAL).value(),
            Health::kCritical);
  for (Health health :
       {Health::kPassing, Health::kWarning, Health::kCritical}) {
    EXPECT_EQ(HealthFromProto(HealthToProto(health)).value(), health);
    // Numbered alike, as model.h promises.
    EXPECT_EQ(static_cast<int>(HealthToProto(health)),
              static_cast<int>(health));
  }
}

TEST(ProtoConvertTest, AbsentWeightsArePassingOneWarningOne) {
  svcdns::v1::Service proto;
  proto.set_id("web-1");
  proto.set_name("web");
  proto.set_port(80);
  absl::StatusOr<Service> service = ServiceFromProto(proto);
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ(service->weights.passing, 1u);
  EXPECT_EQ(service->weights.warning, 1u);
}

TEST(ProtoConvertTest, PresentWeightsAreTaken) {
  svcdns::v1::Service proto;
  proto.set_id("web-1");
  proto.set_name("web");
  proto.mutable_weights()->set_passing(5);
  proto.mutable_weights()->set_warning(0);
  absl::StatusOr<Service> service = ServiceFromProto(proto);
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ(service->weights.passing, 5u);
  EXPECT_EQ(service->weights.warning, 0u);
}

TEST(ProtoConvertTest, PortOver65535IsRejected) {
  svcdns::v1::Service proto;
  proto.set_id("red0");
  proto.set_name("redis");
  proto.set_port(70000);
  absl::StatusOr<Service> service = ServiceFromProto(proto);
  ASSERT_FALSE(service.ok());
  EXPECT_EQ(service.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service.status().message(),
            "service \"red0\": port 70000 is over 65535");

  proto.set_port(65536);
  EXPECT_FALSE(ServiceFromProto(proto).ok());
  proto.set_port(65535);
  EXPECT_TRUE(ServiceFromProto(proto).ok());
}

TEST(ProtoConvertTest, PortErrorInCatalogSaysWhere) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(3)->mutable_services(0)->set_port(70000);
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog.status().message(),
            "nodes[3] (node \"db3\"): service \"red0\": port 70000 is over "
            "65535");
}

TEST(ProtoConvertTest, NodeStateErrorNamesTheNode) {
  svcdns::v1::NodeState proto = ValidNodeProto("db1", "dc1");
  proto.mutable_services(0)->set_port(70000);
  absl::StatusOr<NodeState> state = NodeStateFromProto(proto);
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().message(),
            "node \"db1\": service \"red0\": port 70000 is over 65535");
}

TEST(ProtoConvertTest, UnspecifiedStatusIsRejected) {
  svcdns::v1::Check proto;
  proto.set_id("disk");
  proto.set_name("Disk usage");
  absl::StatusOr<Check> check = CheckFromProto(proto);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(), HasSubstr("check \"disk\""));
  EXPECT_THAT(check.status().message(), HasSubstr("HEALTH_STATUS_UNSPECIFIED"));
}

TEST(ProtoConvertTest, UnknownStatusIsRejected) {
  svcdns::v1::Check proto;
  proto.set_id("disk");
  proto.set_status(static_cast<svcdns::v1::HealthStatus>(7));
  absl::StatusOr<Check> check = CheckFromProto(proto);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(), HasSubstr("check \"disk\""));
  EXPECT_THAT(check.status().message(), HasSubstr("7"));
}

TEST(ProtoConvertTest, UnspecifiedStatusInCatalogSaysWhere) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(1)->mutable_checks(0)->set_status(
      svcdns::v1::HEALTH_STATUS_UNSPECIFIED);
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(),
              HasSubstr("nodes[1] (node \"db1\"): check \"red0-ping\": "));
}

TEST(ProtoConvertTest, NodeNameNotDnsLabelIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(2)->mutable_node()->set_name("db.2");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(),
              HasSubstr("nodes[2] (node \"db.2\")"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("not a DNS label"));
}

TEST(ProtoConvertTest, ServiceNameNotDnsLabelIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(0)->mutable_services(0)->set_name("redis cache");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr("nodes[0] (node \"db0\")"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("not a DNS label"));
}

TEST(ProtoConvertTest, BadNodeAddressIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(1)->mutable_node()->set_address("10.0.0.256");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr("nodes[1] (node \"db1\")"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("10.0.0.256"));
}

TEST(ProtoConvertTest, MissingNodeAddressIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(1)->mutable_node()->clear_address();
  EXPECT_FALSE(CatalogFromProto(proto).ok());
}

TEST(ProtoConvertTest, BadServiceAddressIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(0)->mutable_services(0)->set_address("redis.local");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr("nodes[0] (node \"db0\")"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("redis.local"));
}

TEST(ProtoConvertTest, CheckOfUnknownServiceIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  proto.mutable_nodes(2)->mutable_checks(0)->set_service_id("red1");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr("nodes[2] (node \"db2\")"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("\"red1\""));
}

TEST(ProtoConvertTest, DuplicateServiceIdIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  *proto.mutable_nodes(0)->add_services() = proto.nodes(0).services(0);
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr("appears twice"));
}

TEST(ProtoConvertTest, DuplicateNodeIsRejected) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  *proto.add_nodes() = ValidNodeProto("db1", "dc1");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr("nodes[4] (node \"db1\")"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("appears twice"));
  EXPECT_THAT(catalog.status().message(), HasSubstr("\"dc1\""));
  EXPECT_THAT(catalog.status().message(), HasSubstr("nodes[1]"));
}

TEST(ProtoConvertTest, DuplicateNodeIgnoresCase) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  *proto.add_nodes() = ValidNodeProto("DB1", "DC1");
  EXPECT_FALSE(CatalogFromProto(proto).ok());
}

TEST(ProtoConvertTest, DuplicateNodeInOwnDatacenterIsRejected) {
  svcdns::v1::Catalog proto;
  *proto.add_nodes() = ValidNodeProto("db1", "");
  *proto.add_nodes() = ValidNodeProto("db1", "");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr("appears twice"));
}

TEST(ProtoConvertTest, SameNodeNameInOtherDatacenterIsAccepted) {
  svcdns::v1::Catalog proto = ValidCatalogProto();
  *proto.add_nodes() = ValidNodeProto("db1", "dc2");
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(catalog->nodes.size(), 5u);
}

TEST(ProtoConvertTest, EmptyCatalogIsValid) {
  absl::StatusOr<Catalog> catalog = CatalogFromProto(svcdns::v1::Catalog());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(catalog->index, 0u);
  EXPECT_TRUE(catalog->nodes.empty());
}

}  // namespace
}  // namespace svcdns::catalog
