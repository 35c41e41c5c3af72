// Listening addresses: "HOST:PORT" and "[V6]:PORT" parsing, and sockets bound
// with SO_REUSEPORT so that every worker has its own (libuv 1.44 cannot set
// the option itself).
#ifndef SVCDNS_SERVER_LISTEN_ADDRESS_H_
#define SVCDNS_SERVER_LISTEN_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace svcdns::server {

struct ListenAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  uint16_t port() const;
  void set_port(uint16_t port);
  std::string ToString() const;  // "127.0.0.1:8600", "[::1]:8600"
};

// "HOST:PORT" or "[V6]:PORT". With a default port, "HOST", "V6" and "[V6]"
// are accepted too.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text, int default_port = -1);

// A non-blocking socket of `type` (SOCK_DGRAM or SOCK_STREAM) with
// SO_REUSEPORT, bound to `address`; listening if a stream socket.
absl::StatusOr<int> BindReusePort(const ListenAddress& address, int type);

// The port a bound socket got (for port 0).
uint16_t BoundPort(int fd);

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_LISTEN_ADDRESS_H_
