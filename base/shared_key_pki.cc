#include "base/shared_key_pki.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace svcdns {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;

absl::Status OpenSslError(absl::string_view what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  return absl::InternalError(absl::StrCat(what, ": ", buf));
}

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key`, signed by `ca_key` (self-signed if `issuer` is null).
absl::StatusOr<X509Ptr> MakeCertificate(EVP_PKEY* key, EVP_PKEY* ca_key, X509* issuer,
                                        const char* common_name, long serial,
                                        const char* not_before, const char* not_after,
                                        bool is_ca) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  if (not_before != nullptr) {
    ASN1_TIME_set_string(X509_getm_notBefore(cert.get()), not_before);
    ASN1_TIME_set_string(X509_getm_notAfter(cert.get()), not_after);
  } else {
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* issuer_cert = issuer ? issuer : cert.get();
  bool ok = is_ca ? AddExtension(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:TRUE") &&
                        AddExtension(cert.get(), issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign")
                  : AddExtension(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:FALSE") &&
                        AddExtension(cert.get(), issuer_cert, NID_key_usage, "critical,digitalSignature") &&
                        AddExtension(cert.get(), issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth") &&
                        AddExtension(cert.get(), issuer_cert, NID_subject_alt_name,
                                     absl::StrCat("DNS:", kSharedKeyPeerName).c_str());
  if (!ok) return OpenSslError("certificate extensions");
  if (X509_sign(cert.get(), ca_key, nullptr) == 0) return OpenSslError("signing a certificate");
  return cert;
}

std::string Pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

std::string Pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

}  // namespace

absl::StatusOr<std::string> GenerateSharedKey() {
  unsigned char key[32];
  if (RAND_bytes(key, sizeof(key)) != 1) return OpenSslError("RAND_bytes");
  return absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(key), sizeof(key)));
}

absl::StatusOr<PemIdentity> IdentityFromSharedKey(absl::string_view base64_key) {
  std::string secret;
  if (!absl::Base64Unescape(base64_key, &secret) || secret.size() != 32) {
    return absl::InvalidArgumentError(
        "--encrypt: the key must be base64 of 32 bytes (make one with `svcdns keygen`)");
  }
  // HKDF-SHA256(secret) -> the CA's Ed25519 private key.
  unsigned char seed[32];
  size_t seed_len = sizeof(seed);
  CtxPtr kdf(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  static const char kSalt[] = "svcdns shared-key PKI";
  static const char kInfo[] = "svcdns v1 CA key";
  if (!kdf || EVP_PKEY_derive_init(kdf.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(kdf.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(kdf.get(), reinterpret_cast<const unsigned char*>(kSalt),
                                  sizeof(kSalt) - 1) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(kdf.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                                 static_cast<int>(secret.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(kdf.get(), reinterpret_cast<const unsigned char*>(kInfo),
                                  sizeof(kInfo) - 1) <= 0 ||
      EVP_PKEY_derive(kdf.get(), seed, &seed_len) <= 0) {
    return OpenSslError("HKDF");
  }
  PkeyPtr ca_key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, sizeof(seed)));
  OPENSSL_cleanse(seed, sizeof(seed));
  if (!ca_key) return OpenSslError("CA key");
  // Deterministic CA certificate: the same on every holder of the key.
  auto ca = MakeCertificate(ca_key.get(), ca_key.get(), nullptr, "svcdns shared-key CA", 1,
                            "20200101000000Z", "21200101000000Z", true);
  if (!ca.ok()) return ca.status();
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return OpenSslError("key generation");
  long serial;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial));
  auto cert = MakeCertificate(key.get(), ca_key.get(), ca->get(), kSharedKeyPeerName,
                              (serial & 0x7fffffffffffL) | 2, nullptr, nullptr, false);
  if (!cert.ok()) return cert.status();
  return PemIdentity{Pem(ca->get()), Pem(cert->get()), Pem(key.get())};
}

}  // namespace svcdns
