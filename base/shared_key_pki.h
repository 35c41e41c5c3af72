// A PKI grown from one shared secret, for clusters without one (the
// `--encrypt KEY` of Consul's gossip, here as ordinary mutual TLS): every
// holder of the key derives the same CA key (HKDF-SHA256), hence the same CA
// certificate, and issues itself a certificate from it. Holding the key is
// what admits a peer; the channel is plain TLS 1.3. OpenSSL does all the
// cryptography.
#ifndef SVCDNS_BASE_SHARED_KEY_PKI_H_
#define SVCDNS_BASE_SHARED_KEY_PKI_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace svcdns {

// The name every shared-key certificate carries (in its subjectAltName), and
// so the name clients verify the server against.
inline constexpr char kSharedKeyPeerName[] = "svcdns";

struct PemIdentity {
  std::string ca_certificate;  // the derived CA: the only trusted root
  std::string certificate;     // issued to this process, fresh key
  std::string private_key;
};

// A new random key, base64 of 32 bytes (what `svcdns keygen` prints).
absl::StatusOr<std::string> GenerateSharedKey();

// Fails if `base64_key` is not base64 of exactly 32 bytes.
absl::StatusOr<PemIdentity> IdentityFromSharedKey(absl::string_view base64_key);

}  // namespace svcdns

#endif  // SVCDNS_BASE_SHARED_KEY_PKI_H_
