#include "agent/duration.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace svcdns::agent {
namespace {

constexpr int64_t kMaxNanos = std::numeric_limits<int64_t>::max();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Nanoseconds per unit, or 0 for an unknown unit.
int64_t UnitNanos(absl::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" /* µ U+00B5 */ ||
      unit == "\xCE\xBCs" /* μ U+03BC */) {
    return 1000;
  }
  if (unit == "ms") return 1000 * 1000;
  if (unit == "s") return int64_t{1000} * 1000 * 1000;
  if (unit == "m") return int64_t{60} * 1000 * 1000 * 1000;
  if (unit == "h") return int64_t{3600} * 1000 * 1000 * 1000;
  return 0;
}

// "1.500" -> "1.5", "2.000" -> "2": `value` split at `digits` decimals.
std::string Decimal(int64_t value, int digits) {
  int64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  std::string out = absl::StrCat(value / scale);
  std::string frac = absl::StrFormat("%0*d", digits, value % scale);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) absl::StrAppend(&out, ".", frac);
  return out;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view s) {
  const absl::string_view original = s;
  auto error = [original](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration \"", absl::Utf8SafeCHexEscape(original),
                     "\": ", why));
  };
  if (s.empty()) return error("empty (write e.g. \"10s\")");
  if (s[0] == '-') return error("negative durations are not allowed");
  if (s[0] == '+') s.remove_prefix(1);
  if (s == "0") return absl::ZeroDuration();
  if (s.empty()) return error("expected a number");

  __int128 total = 0;  // nanoseconds
  while (!s.empty()) {
    size_t i = 0;
    __int128 whole = 0;
    while (i < s.size() && IsDigit(s[i])) {
      whole = whole * 10 + (s[i] - '0');
      if (whole > kMaxNanos) return error("too large");
      ++i;
    }
    const bool has_whole = i > 0;
    __int128 frac = 0;
    __int128 scale = 1;
    bool has_frac = false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      const size_t start = i;
      while (i < s.size() && IsDigit(s[i])) {
        // Digits past the 18th are below any unit's nanosecond: dropped.
        if (scale < __int128{1000000000000000000}) {
          frac = frac * 10 + (s[i] - '0');
          scale *= 10;
        }
        ++i;
      }
      has_frac = i > start;
    }
    if (!has_whole && !has_frac) return error("expected a number");
    size_t end = i;
    while (end < s.size() && !IsDigit(s[end]) && s[end] != '.') ++end;
    const absl::string_view unit = s.substr(i, end - i);
    if (unit.empty()) {
      return error("missing unit (one of ns, us, ms, s, m, h)");
    }
    const int64_t unit_nanos = UnitNanos(unit);
    if (unit_nanos == 0) {
      return error(absl::StrCat("unknown unit \"", absl::Utf8SafeCHexEscape(unit),
                                "\" (one of ns, us, ms, s, m, h)"));
    }
    total += whole * unit_nanos + frac * unit_nanos / scale;
    if (total > kMaxNanos) return error("too large");
    s.remove_prefix(end);
  }
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

std::string FormatGoDuration(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "inf";
  if (d == -absl::InfiniteDuration()) return "-inf";
  absl::string_view sign;
  if (d < absl::ZeroDuration()) {
    sign = "-";
    d = -d;
  }
  if (d < absl::Seconds(1)) {
    const int64_t ns = absl::ToInt64Nanoseconds(d);
    if (ns == 0) return "0s";
    if (ns < 1000) return absl::StrCat(sign, ns, "ns");
    if (ns < 1000 * 1000) {
      return absl::StrCat(sign, Decimal(ns, 3), "\xC2\xB5s");
    }
    return absl::StrCat(sign, Decimal(ns, 6), "ms");
  }
  std::string out(sign);
  absl::Duration rem;
  const int64_t hours = absl::IDivDuration(d, absl::Hours(1), &rem);
  const int64_t minutes = absl::IDivDuration(rem, absl::Minutes(1), &rem);
  const int64_t seconds = absl::IDivDuration(rem, absl::Seconds(1), &rem);
  const int64_t nanos = absl::ToInt64Nanoseconds(rem);
  if (hours > 0) absl::StrAppend(&out, hours, "h");
  if (hours > 0 || minutes > 0) absl::StrAppend(&out, minutes, "m");
  absl::StrAppend(&out, seconds);
  std::string frac = absl::StrFormat("%09d", nanos);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) absl::StrAppend(&out, ".", frac);
  absl::StrAppend(&out, "s");
  return out;
}

}  // namespace svcdns::agent
