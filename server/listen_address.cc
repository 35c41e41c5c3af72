#include "server/listen_address.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace svcdns::server {

uint16_t ListenAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

void ListenAddress::set_port(uint16_t port) {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  }
}

std::string ListenAddress::ToString() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr,
              host, sizeof(host));
    return absl::StrCat(host, ":", port());
  }
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr,
            host, sizeof(host));
  return absl::StrCat("[", host, "]:", port());
}

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text, int default_port) {
  if (default_port >= 0) {
    std::string port = absl::StrCat(default_port);
    size_t colons = std::count(text.begin(), text.end(), ':');
    if (!text.empty() && text[0] == '[' && text.back() == ']') {
      return ParseListenAddress(absl::StrCat(text, ":", port));
    }
    if (!text.empty() && text[0] != '[' && colons != 1) {  // "10.0.0.1" or "2001:db8::1"
      return ParseListenAddress(colons == 0 ? absl::StrCat(text, ":", port)
                                            : absl::StrCat("[", text, "]:", port));
    }
  }
  absl::string_view host, port_text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", text, "\": expected [IPV6]:PORT"));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", text, "\": expected HOST:PORT"));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  uint32_t port;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", text, "\": port \"", port_text, "\" is not 0-65535"));
  }
  ListenAddress out;
  std::string h(host == "localhost" ? "127.0.0.1" : host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    out.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    out.length = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", text, "\": \"", host, "\" is not an IP literal"));
  }
  out.set_port(static_cast<uint16_t>(port));
  return out;
}

absl::StatusOr<int> BindReusePort(const ListenAddress& address, int type) {
  int fd = socket(address.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (address.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    int err = errno;
    close(fd);
    return absl::ErrnoToStatus(
        err, absl::StrCat("bind ", type == SOCK_STREAM ? "tcp " : "udp ", address.ToString()));
  }
  if (type == SOCK_STREAM && listen(fd, 1024) != 0) {
    int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat("listen ", address.ToString()));
  }
  return fd;
}

uint16_t BoundPort(int fd) {
  ListenAddress a;
  a.length = sizeof(a.storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length);
  return a.port();
}

}  // namespace svcdns::server
