// gRPC server credentials from the ingest flags: plain, TLS from files,
// mutual TLS, or mutual TLS from a shared key (--encrypt).
#ifndef SVCDNS_SERVER_INGEST_CREDENTIALS_H_
#define SVCDNS_SERVER_INGEST_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "absl/status/statusor.h"
#include "server/ingest_server.h"

namespace svcdns::server {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const IngestOptions& options);

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_INGEST_CREDENTIALS_H_
