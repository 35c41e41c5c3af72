#include "agent/duration.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace svcdns::agent {
namespace {

using ::testing::HasSubstr;

// The text of a status's message, for matchers (which want std::string).
std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

absl::Duration Parsed(absl::string_view s) {
  absl::StatusOr<absl::Duration> d = ParseDuration(s);
  EXPECT_TRUE(d.ok()) << s << ": " << d.status();
  return d.ok() ? *d : absl::InfiniteDuration();
}

TEST(DurationTest, ParsesGoDurations) {
  EXPECT_EQ(Parsed("10s"), absl::Seconds(10));
  EXPECT_EQ(Parsed("1m30s"), absl::Seconds(90));
  EXPECT_EQ(Parsed("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(Parsed("1h"), absl::Hours(1));
  EXPECT_EQ(Parsed("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(Parsed("250us"), absl::Microseconds(250));
  EXPECT_EQ(Parsed("250\xC2\xB5s"), absl::Microseconds(250));  // U+00B5
  EXPECT_EQ(Parsed("250\xCE\xBCs"), absl::Microseconds(250));  // U+03BC
  EXPECT_EQ(Parsed("42ns"), absl::Nanoseconds(42));
  EXPECT_EQ(Parsed("0"), absl::ZeroDuration());
  EXPECT_EQ(Parsed("+5s"), absl::Seconds(5));
  EXPECT_EQ(Parsed("0s"), absl::ZeroDuration());
  EXPECT_EQ(Parsed("1h2m3s4ms"), absl::Hours(1) + absl::Minutes(2) +
                                     absl::Seconds(3) + absl::Milliseconds(4));
  EXPECT_EQ(Parsed(".5s"), absl::Milliseconds(500));
  EXPECT_EQ(Parsed("2.s"), absl::Seconds(2));
  EXPECT_EQ(Parsed("0.000000001s"), absl::Nanoseconds(1));
  EXPECT_EQ(Parsed("1.0000000019s"), absl::Nanoseconds(1000000001));
  EXPECT_EQ(Parsed("2562047h"), absl::Hours(2562047));
}

TEST(DurationTest, RejectsBadInput) {
  for (const char* bad :
       {"", "-1s", "-0", "10", "1.5", "s", ".s", "1x", "1 s", " 1s", "1s ",
        "1S", "1sec", "abc", "1..5s", "+", "--1s", "1e3s", "9223372036854775808ns",
        "2562048h", "99999999999999999999s"}) {
    absl::StatusOr<absl::Duration> d = ParseDuration(bad);
    EXPECT_FALSE(d.ok()) << "\"" << bad << "\" parsed as " << *d;
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(DurationTest, ErrorsSayWhy) {
  EXPECT_THAT(Message(ParseDuration("-1s").status()), HasSubstr("negative"));
  EXPECT_THAT(Message(ParseDuration("10").status()), HasSubstr("missing unit"));
  EXPECT_THAT(Message(ParseDuration("10d").status()),
              HasSubstr("unknown unit \"d\""));
  EXPECT_THAT(Message(ParseDuration("").status()), HasSubstr("empty"));
}

TEST(DurationTest, FormatsLikeGo) {
  EXPECT_EQ(FormatGoDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatGoDuration(absl::Seconds(10)), "10s");
  EXPECT_EQ(FormatGoDuration(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(FormatGoDuration(absl::Minutes(2)), "2m0s");
  EXPECT_EQ(FormatGoDuration(absl::Hours(1)), "1h0m0s");
  EXPECT_EQ(FormatGoDuration(absl::Hours(26) + absl::Seconds(1)), "26h0m1s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(500)), "500ms");
  EXPECT_EQ(FormatGoDuration(absl::Microseconds(1500)), "1.5ms");
  EXPECT_EQ(FormatGoDuration(absl::Microseconds(250)), "250\xC2\xB5s");
  EXPECT_EQ(FormatGoDuration(absl::Nanoseconds(10)), "10ns");
  EXPECT_EQ(FormatGoDuration(absl::Nanoseconds(1000000001)), "1.000000001s");
  EXPECT_EQ(FormatGoDuration(-absl::Seconds(90)), "-1m30s");
  EXPECT_EQ(FormatGoDuration(absl::InfiniteDuration()), "inf");
}

TEST(DurationTest, FormatThenParseRoundTrips) {
  for (absl::Duration d :
       {absl::Nanoseconds(1), absl::Microseconds(250), absl::Milliseconds(500),
        absl::Seconds(10), absl::Seconds(90), absl::Hours(3) + absl::Nanoseconds(7),
        absl::Milliseconds(1500)}) {
    EXPECT_EQ(Parsed(FormatGoDuration(d)), d) << FormatGoDuration(d);
  }
}

}  // namespace
}  // namespace svcdns::agent
