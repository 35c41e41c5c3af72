// The agent stream endpoint (svcdns.v1.Ingest/Stream) on gRPC's asynchronous
// API, served by one "ingest" thread: each stream converts messages to the
// model at this edge and queues them for the catalog owner. gRPC types stop
// here.
#ifndef SVCDNS_SERVER_INGEST_SERVER_H_
#define SVCDNS_SERVER_INGEST_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/stream_events.h"

namespace svcdns::server {

struct IngestOptions {
  std::string address = "127.0.0.1:8502";
  std::string token;  // required "authorization: Bearer <token>" if set
  // TLS: all three files, or none.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_verify_client = false;  // mutual TLS
  std::string encrypt_key;         // base64 shared key: mutual TLS from a derived CA
  size_t max_message_bytes = 4 << 20;
  absl::Duration keepalive = absl::Seconds(10);
  absl::Duration keepalive_timeout = absl::Seconds(5);
};

class IngestServer {
 public:
  IngestServer();
  ~IngestServer();

  // Listens (a port 0 is resolved: see port()) and starts serving streams,
  // whose events go to `queue`.
  absl::Status Start(const IngestOptions& options, StreamEventQueue* queue);
  // Ends every stream (UNAVAILABLE) and stops listening.
  void Shutdown();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_INGEST_SERVER_H_
