// The Consul-shaped JSON of the read-only HTTP API (field names as Consul
// writes them, so Consul clients, Prometheus' consul_sd_configs and scripts
// parse it), rendered from an immutable view of the catalog.
#ifndef SVCDNS_SERVER_CONSUL_JSON_H_
#define SVCDNS_SERVER_CONSUL_JSON_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog_store.h"
#include "catalog/model.h"
#include "nlohmann/json.hpp"

namespace svcdns::server {

// What the HTTP API reads: replaced whole at every catalog change.
struct CatalogView {
  uint64_t index = 0;
  std::string local_datacenter;
  std::string node;       // the server's own node
  std::string advertise;
  std::shared_ptr<const catalog::SharedCatalog> catalog;
  std::vector<catalog::Member> members;
};

// The request's filters.
struct ViewQuery {
  std::string datacenter;  // ?dc=, empty: the local one
  std::string tag;         // ?tag=
  bool passing = false;    // ?passing
};

// nullopt: 404 (no such path).
std::optional<nlohmann::json> RenderPath(const CatalogView& view, const std::string& path,
                                         const ViewQuery& query);

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_CONSUL_JSON_H_
