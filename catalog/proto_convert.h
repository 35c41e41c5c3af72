// Conversions between the public protobuf contract (proto/catalog.proto) and
// the catalog's model (catalog/model.h). This is the only place, together
// with catalog_file, where the model meets protobuf: everything past the
// ingest edge uses the model alone.
//
// The *FromProto functions reject what the model cannot hold (a port over
// 65535, a health status that is unspecified or unknown) with
// INVALID_ARGUMENT errors that say where. Only CatalogFromProto also applies
// the catalog's rules (catalog/validation.h); the others convert and leave
// validation to their caller.
//
// The model's NodeState::status has no counterpart in the proto: nodes read
// from a proto are kAlive, and NodeStateToProto drops the status.
#ifndef SVCDNS_CATALOG_PROTO_CONVERT_H_
#define SVCDNS_CATALOG_PROTO_CONVERT_H_

#include "absl/status/statusor.h"
#include "proto/catalog.pb.h"  // generated from proto/catalog.proto
#include "catalog/change.h"
#include "catalog/model.h"

namespace svcdns::catalog {

// HEALTH_STATUS_UNSPECIFIED and values outside the enum (proto3 enums are
// open) are INVALID_ARGUMENT.
absl::StatusOr<Health> HealthFromProto(svcdns::v1::HealthStatus status);
svcdns::v1::HealthStatus HealthToProto(Health health);

// Absent weights become passing 1, warning 1. A port over 65535 is
// INVALID_ARGUMENT naming the service: `service "red0": port 70000 is over
// 65535`.
absl::StatusOr<Service> ServiceFromProto(const svcdns::v1::Service& proto);

// An unspecified or unknown status is INVALID_ARGUMENT naming the check.
absl::StatusOr<Check> CheckFromProto(const svcdns::v1::Check& proto);

Node NodeFromProto(const svcdns::v1::Node& proto);

// Converts the node, its services and checks; errors are prefixed with
// `node "<name>": `. Does not validate (see ValidateNodeState). The result's
// status is kAlive.
absl::StatusOr<NodeState> NodeStateFromProto(
    const svcdns::v1::NodeState& proto);

// Converts every node and validates it with ValidateNodeState, and rejects a
// node name (compared case-insensitively, as DNS does) that appears twice in
// the same datacenter. Errors say where:
// `nodes[3] (node "db1"): service "red0": port 70000 is over 65535`.
absl::StatusOr<Catalog> CatalogFromProto(const svcdns::v1::Catalog& proto);

// One change of an Update. A change with nothing set is INVALID_ARGUMENT.
absl::StatusOr<Change> ChangeFromProto(const svcdns::v1::Change& proto);

// The reverse conversions. Weights equal to the default (1, 1) are left
// absent; NodeState::status is dropped.
svcdns::v1::Service ServiceToProto(const Service& service);
svcdns::v1::Check CheckToProto(const Check& check);
svcdns::v1::Node NodeToProto(const Node& node);
svcdns::v1::NodeState NodeStateToProto(const NodeState& state);
svcdns::v1::Catalog CatalogToProto(const Catalog& catalog);
svcdns::v1::Change ChangeToProto(const Change& change);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_PROTO_CONVERT_H_
