// A blocking HTTP request to an svcdns HTTP API, for the CLI (libcurl).
#ifndef SVCDNS_CLI_HTTP_CLIENT_H_
#define SVCDNS_CLI_HTTP_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"

namespace svcdns::cli {

struct HttpResponse {
  long status = 0;
  std::string body;
};

// `address` is HOST:PORT; `path` starts with "/". Fails only when no HTTP
// answer came (refused, timed out); any status code is a response.
absl::StatusOr<HttpResponse> HttpRequest(const std::string& method, const std::string& address,
                                         const std::string& path, const std::string& body = "");

}  // namespace svcdns::cli

#endif  // SVCDNS_CLI_HTTP_CLIENT_H_
