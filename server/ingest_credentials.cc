#include "server/ingest_credentials.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/shared_key_pki.h"

namespace svcdns::server {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, " ", path, ": cannot read"));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not a PEM file"));
  }
  return ss.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const IngestOptions& options) {
  bool any_file = !options.tls_ca_file.empty() || !options.tls_cert_file.empty() ||
                  !options.tls_key_file.empty();
  if (!options.encrypt_key.empty()) {
    if (any_file) {
      return absl::InvalidArgumentError("--encrypt and --tls-* files exclude each other");
    }
    auto identity = IdentityFromSharedKey(options.encrypt_key);
    if (!identity.ok()) return identity.status();
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = identity->ca_certificate;
    ssl.pem_key_cert_pairs.push_back({identity->private_key, identity->certificate});
    return grpc::SslServerCredentials(ssl);
  }
  if (!any_file) {
    if (options.tls_verify_client) {
      return absl::InvalidArgumentError("--tls-verify-client needs --tls-ca-file");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls-cert-file and --tls-key-file");
  }
  if (options.tls_verify_client && options.tls_ca_file.empty()) {
    return absl::InvalidArgumentError("--tls-verify-client needs --tls-ca-file");
  }
  auto cert = ReadPem("--tls-cert-file", options.tls_cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("--tls-key-file", options.tls_key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(
      options.tls_verify_client ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!options.tls_ca_file.empty()) {
    auto ca = ReadPem("--tls-ca-file", options.tls_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
  }
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace svcdns::server
