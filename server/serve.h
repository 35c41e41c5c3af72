// `svcdns serve`: loads the catalog sources, publishes the first snapshot,
// runs the DNS workers, and reloads on SIGHUP until SIGTERM or SIGINT.
#ifndef SVCDNS_SERVER_SERVE_H_
#define SVCDNS_SERVER_SERVE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "catalog/model.h"
#include "catalog/snapshot_builder.h"
#include "server/catalog_owner.h"
#include "server/dns_worker.h"
#include "server/ingest_server.h"

namespace svcdns::server {

struct ServeOptions {
  std::vector<std::string> dns_addrs = {"127.0.0.1:8600"};
  std::string node;          // the local node's name (default: host name)
  std::string config_dir;    // service definitions of the local node
  std::string catalog_file;  // a whole Catalog in protobuf JSON
  int workers = 0;           // 0: one per core
  catalog::SnapshotOptions snapshot;
  WorkerOptions worker;
  IngestOptions ingest;  // address empty: no agent streams
  std::string http_addr = "127.0.0.1:8500";  // empty: no HTTP API
  OwnerOptions owner;
};

// Reads --catalog and --config-dir into one catalog; the local node's
// definitions replace any node of the same name in the catalog file.
absl::StatusOr<catalog::Catalog> LoadCatalogSources(const ServeOptions& options);

// Runs until SIGTERM/SIGINT; returns an error if it cannot start.
absl::Status RunServe(ServeOptions options);

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_SERVE_H_
