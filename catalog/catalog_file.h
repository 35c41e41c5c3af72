// Catalog files: the protobuf JSON mapping of svcdns.v1.Catalog (see
// proto/catalog.proto and deploy/examples/catalog.json), as read by
// `svcdns serve --catalog FILE` and written to --data-dir.
#ifndef SVCDNS_CATALOG_CATALOG_FILE_H_
#define SVCDNS_CATALOG_CATALOG_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "catalog/model.h"

namespace svcdns::catalog {

// Reads, parses and validates (CatalogFromProto) a catalog file. Unknown
// fields are errors, so that a misspelt field is not silently ignored. Every
// error names the path: `catalog file "/etc/svcdns/catalog.json": ...`.
// A missing file is NOT_FOUND; a file that is not a valid catalog is
// INVALID_ARGUMENT.
absl::StatusOr<Catalog> LoadCatalogFile(const std::string& path);

// The catalog as pretty-printed protobuf JSON (fields at their default
// values are left out; the index is a string, as the mapping has uint64).
absl::StatusOr<std::string> CatalogToJson(const Catalog& catalog);

// Writes the catalog to `path` atomically: to `path + ".tmp"`, fsync, rename
// over `path`, fsync the directory. Readers see the old file or the new one,
// never a part of one, even across a crash.
absl::Status SaveCatalogFile(const Catalog& catalog, const std::string& path);

}  // namespace svcdns::catalog

#endif  // SVCDNS_CATALOG_CATALOG_FILE_H_
