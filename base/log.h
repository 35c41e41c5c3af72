// Structured logs to stderr: one event per line, a level and key=value fields,
//   2026-11-25T20:00:00.123Z level=info event=listening addr=127.0.0.1:8600
// Never used per query.
#ifndef SVCDNS_BASE_LOG_H_
#define SVCDNS_BASE_LOG_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace svcdns {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// From "debug", "info", "warn" or "error"; false if none of them.
bool ParseLogLevel(absl::string_view text, LogLevel* level);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// `fields` is "key=value key2=value2"; use Quote() for values with spaces.
void Log(LogLevel level, absl::string_view event, absl::string_view fields = {});

// "value" with quotes and escapes when it has spaces, quotes or is empty.
std::string Quote(absl::string_view value);

#define SVCDNS_LOG(level, event, ...)                                   \
  do {                                                                  \
    if (::svcdns::LogEnabled(::svcdns::LogLevel::level)) {              \
      ::svcdns::Log(::svcdns::LogLevel::level, event,                   \
                    ::absl::StrCat(__VA_ARGS__));                       \
    }                                                                   \
  } while (0)

}  // namespace svcdns

#endif  // SVCDNS_BASE_LOG_H_
