// W3C traceparent: valid headers parse, every malformed, truncated,
// oversized or hostile one is ignored (nullopt), never a crash.
#include "telemetry/trace_context.h"

#include <gtest/gtest.h>

#include <string>

namespace mlxs::telemetry {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesTheSpecExample) {
  const auto c = parse_traceparent(kValid);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(to_hex(c->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(to_hex(c->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled());
  EXPECT_EQ(format_traceparent(*c), kValid);
}

TEST(Traceparent, NotSampledAndUnknownFlagBits) {
  auto c = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->sampled());
  // Bits version 00 does not define are read past and not passed on.
  c = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->sampled());
  EXPECT_EQ(format_traceparent(*c).substr(53), "01");
}

TEST(Traceparent, SurroundingWhitespaceIsOptional) {
  EXPECT_TRUE(parse_traceparent(" \t" + std::string(kValid) + "\t ").has_value());
}

TEST(Traceparent, FutureVersionsReadTheirFirstFields) {
  const std::string v01 = "01" + std::string(kValid.substr(2));
  EXPECT_TRUE(parse_traceparent(v01).has_value());
  EXPECT_TRUE(parse_traceparent(v01 + "-extra-fields-here").has_value());
  EXPECT_FALSE(parse_traceparent(v01 + "x")) << "more fields must follow a '-'";
  EXPECT_FALSE(parse_traceparent("ff" + std::string(kValid.substr(2)))) << "ff is invalid";
}

TEST(Traceparent, RejectsMalformedHeaders) {
  const std::string v(kValid);
  const std::vector<std::string> bad = {
      "",
      "00",
      v.substr(0, 54),                                            // truncated
      v + "-",                                                    // version 00 is exactly 55
      v + "0",                                                    // oversized
      v + std::string(10000, 'a'),                                // hostile length
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
      "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  // separators
      "00-4bf92f3577b34da6a3ce929d0e0e47360-0f067aa0ba902b7-01",  // shifted fields
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
      "-00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b701",
      std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55),
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Evil: 1",
      "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  for (const auto& h : bad) EXPECT_FALSE(parse_traceparent(h).has_value()) << h.substr(0, 80);
}

TEST(Traceparent, EveryTruncationOfAValidHeaderIsRejected) {
  for (std::size_t n = 0; n < kValid.size(); ++n) {
    EXPECT_FALSE(parse_traceparent(kValid.substr(0, n)).has_value()) << n;
  }
}

TEST(Ids, HexRoundTripAndLowerCaseOnly) {
  const TraceId t = random_trace_id();
  EXPECT_EQ(trace_id_from_hex(to_hex(t)), t);
  EXPECT_FALSE(span_id_from_hex("ABCDEF0123456789").has_value());
  EXPECT_FALSE(span_id_from_hex("abcdef012345678").has_value());
  EXPECT_EQ(byte_from_hex("7f"), std::optional<std::uint8_t>(0x7f));
}

TEST(Ids, RandomIdsAreNeverZeroAndDiffer) {
  const TraceId a = random_trace_id(), b = random_trace_id();
  EXPECT_FALSE(is_zero(a));
  EXPECT_NE(a, b);
  EXPECT_FALSE(is_zero(random_span_id()));
  EXPECT_NE(random_span_id(), random_span_id());
}

}  // namespace
}  // namespace mlxs::telemetry
