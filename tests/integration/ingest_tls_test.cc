// Agent streams over TLS, mutual TLS (certificates made here with the
// openssl command) and a shared key (--encrypt).
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "base/shared_key_pki.h"
#include "gtest/gtest.h"
#include "tests/testing/agent_stream.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

// A CA, a server certificate for "localhost" and a client certificate, all
// from the openssl command line tool, in `dir`.
bool MakePki(const TempDir& dir, const std::string& prefix) {
  std::string d = dir.path() + "/" + prefix;
  std::string cmd =
      "set -e; cd " + dir.path() + ";"
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
      "  -subj '/CN=test CA' -keyout " + d + "ca.key -out " + d + "ca.pem 2>/dev/null;"
      "for who in server client; do "
      "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj \"/CN=$who\" "
      "    -keyout " + d + "$who.key -out " + d + "$who.csr 2>/dev/null;"
      "  printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth,clientAuth\\n' > " + d + "ext;"
      "  openssl x509 -req -in " + d + "$who.csr -CA " + d + "ca.pem -CAkey " + d + "ca.key "
      "    -CAcreateserial -days 2 -extfile " + d + "ext -out " + d + "$who.pem 2>/dev/null;"
      "done";
  return std::system(cmd.c_str()) == 0;
}

grpc::ChannelArguments LocalhostTarget(const std::string& name = "localhost") {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(name);
  return args;
}

class IngestTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v openssl >/dev/null") != 0) GTEST_SKIP() << "no openssl";
    ASSERT_TRUE(MakePki(dir_, "a-"));
    ASSERT_TRUE(MakePki(dir_, "b-"));  // another CA, for a stranger
  }
  std::string P(const std::string& name) { return dir_.path() + "/" + name; }

  bool Works(AgentStream& agent) {
    return agent.Register("tls1", "10.9.0.1", {ServiceProto("sec", "sec", 443)});
  }

  TempDir dir_;
};

TEST_F(IngestTlsTest, ServerTls) {
  auto server = ServerProcess::Start({"--tls-cert-file", P("a-server.pem"), "--tls-key-file",
                                      P("a-server.key")});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(P("a-ca.pem"));
  AgentStream agent((*server)->ingest_port(), grpc::SslCredentials(ssl), "", LocalhostTarget());
  EXPECT_TRUE(Works(agent));
  // Plain text against a TLS port gets nowhere.
  AgentStream plain((*server)->ingest_port());
  EXPECT_FALSE(Works(plain));
}

TEST_F(IngestTlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  auto server = ServerProcess::Start({"--tls-ca-file", P("a-ca.pem"), "--tls-cert-file",
                                      P("a-server.pem"), "--tls-key-file", P("a-server.key"),
                                      "--tls-verify-client"});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::SslCredentialsOptions good;
  good.pem_root_certs = ReadFile(P("a-ca.pem"));
  good.pem_cert_chain = ReadFile(P("a-client.pem"));
  good.pem_private_key = ReadFile(P("a-client.key"));
  AgentStream agent((*server)->ingest_port(), grpc::SslCredentials(good), "", LocalhostTarget());
  EXPECT_TRUE(Works(agent));

  grpc::SslCredentialsOptions none;
  none.pem_root_certs = ReadFile(P("a-ca.pem"));
  AgentStream anonymous((*server)->ingest_port(), grpc::SslCredentials(none), "", LocalhostTarget());
  EXPECT_FALSE(Works(anonymous));

  grpc::SslCredentialsOptions stranger = good;
  stranger.pem_cert_chain = ReadFile(P("b-client.pem"));
  stranger.pem_private_key = ReadFile(P("b-client.key"));
  AgentStream foreign((*server)->ingest_port(), grpc::SslCredentials(stranger), "", LocalhostTarget());
  EXPECT_FALSE(Works(foreign));
}

grpc::SslCredentialsOptions FromSharedKey(const std::string& key) {
  auto identity = IdentityFromSharedKey(key);
  EXPECT_TRUE(identity.ok()) << identity.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = identity->ca_certificate;
  ssl.pem_cert_chain = identity->certificate;
  ssl.pem_private_key = identity->private_key;
  return ssl;
}

TEST_F(IngestTlsTest, SharedKeyAdmitsItsHoldersOnly) {
  std::string key = *GenerateSharedKey();
  std::string other = *GenerateSharedKey();
  auto server = ServerProcess::Start({"--encrypt", key});
  ASSERT_TRUE(server.ok()) << server.status();
  AgentStream agent((*server)->ingest_port(), grpc::SslCredentials(FromSharedKey(key)), "",
                    LocalhostTarget(kSharedKeyPeerName));
  EXPECT_TRUE(Works(agent));
  AgentStream wrong((*server)->ingest_port(), grpc::SslCredentials(FromSharedKey(other)), "",
                    LocalhostTarget(kSharedKeyPeerName));
  EXPECT_FALSE(Works(wrong));
  auto bad = ServerProcess::Start({"--encrypt", "not-base64-of-32-bytes"});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace svcdns::testing
