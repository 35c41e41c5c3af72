// One change an agent makes to its node's state (svcdns.v1.Change in the
// model's terms).
#ifndef SVCDNS_CATALOG_CHANGE_H_
#define SVCDNS_CATALOG_CHANGE_H_

#include <string>
#include <variant>

#include "catalog/model.h"

namespace svcdns::catalog {

struct DeleteService {
  std::string id;  // deletes the service and its checks
};
struct DeleteCheck {
  std::string id;
};
// A new result for an existing check.
struct CheckResult {
  std::string check_id;
  Health status = Health::kCritical;
  std::string output;
};

using Change = std::variant<Service, DeleteService, Check, DeleteCheck, CheckResult>;

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_CHANGE_H_
