// Rules every node, service and check must meet before it enters a catalog,
// whichever edge it came in by (definition files, catalog files, streams).
#ifndef SVCDNS_CATALOG_VALIDATION_H_
#define SVCDNS_CATALOG_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "catalog/model.h"

namespace svcdns::catalog {

// 1..63 characters of letters, digits, '-' and '_' (Consul allows the
// underscore; it is common in service names).
bool IsDnsLabel(absl::string_view s);

// True for an IPv4 or IPv6 literal.
bool IsIpLiteral(absl::string_view s);

// Each returns INVALID_ARGUMENT naming the field ("service \"web\": port ...").
absl::Status ValidateNode(const Node& node);
absl::Status ValidateService(const Service& service);
absl::Status ValidateCheck(const Check& check);

// Ids unique, and every check's service_id names a service of the node.
absl::Status ValidateNodeState(const NodeState& state);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_VALIDATION_H_
