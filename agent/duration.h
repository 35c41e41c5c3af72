// Durations written the way Go's time.ParseDuration (and so Consul) writes
// them: "10s", "1m30s", "500ms", "1.5s", "250us", "0".
#ifndef SVCDNS_AGENT_DURATION_H_
#define SVCDNS_AGENT_DURATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace svcdns::agent {

// Parses a sequence of decimal numbers, each with an optional fraction and a
// unit ("ns", "us", "µs" (U+00B5 or U+03BC), "ms", "s", "m", "h"), such as
// "1h2m3.5s"; a leading '+' is allowed and "0" needs no unit. Negative
// durations, overflow past Go's limit (about 292 years), empty and malformed
// strings are INVALID_ARGUMENT. A bare number with no unit other than "0"
// is an error, as in Go: callers that accept JSON numbers handle them.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view s);

// Go's time.Duration.String() (not named FormatDuration: absl has one, and
// argument-dependent lookup would make unqualified calls ambiguous): "0s", "10s", "1m30s", "1h0m0s", "1.5s",
// "500ms", "250µs", "10ns", with a '-' for negative durations. Precision
// below a nanosecond is dropped; infinite durations are "inf" and "-inf".
std::string FormatGoDuration(absl::Duration d);

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_DURATION_H_
