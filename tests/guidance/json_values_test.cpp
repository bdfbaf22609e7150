// JSON numbers and strings as automata, checked against the schema module's
// number comparisons, multipleOf and format checks on random inputs.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "guidance/dfa_ops.h"
#include "guidance/json_format.h"
#include "guidance/json_number.h"
#include "guidance/json_string.h"
#include "guidance/json_tokens.h"
#include "schema/format.h"
#include "schema/json_value.h"

namespace mlxs::guidance {
namespace {

using core::Json;

std::string random_number_text(core::Xoshiro256& rng) {
  std::string s;
  if (rng.below(3) == 0) s += "-";
  const auto int_digits = rng.below(4);
  if (int_digits == 0) {
    s += "0";
  } else {
    s += static_cast<char>('1' + rng.below(9));
    for (std::uint64_t i = 1; i < int_digits; ++i) s += static_cast<char>('0' + rng.below(10));
  }
  if (rng.below(2) == 0) {
    s += ".";
    const auto frac = 1 + rng.below(4);
    for (std::uint64_t i = 0; i < frac; ++i)
      s += static_cast<char>('0' + rng.below(rng.below(3) == 0 ? 1 : 10));
  }
  return s;
}

TEST(JsonNumber, SyntaxAutomata) {
  const Dfa& full = number_full_syntax();
  for (const char* ok : {"0", "-0", "12", "1.5", "-0.25", "1e5", "2E-3", "1.5e+10"})
    EXPECT_TRUE(full.matches(ok)) << ok;
  for (const char* bad : {"", "-", "01", "1.", ".5", "+1", "1e", "0x1", "1.5.2"})
    EXPECT_FALSE(full.matches(bad)) << bad;
  const Dfa& v = number_value_syntax();
  EXPECT_TRUE(v.matches("123456789012345678"));
  EXPECT_FALSE(v.matches("1234567890123456789"));  // more than 18 digits
  EXPECT_TRUE(v.matches("12345.6789012345"));
  EXPECT_FALSE(v.matches("12345.67890123456"));  // more than 15 with a fraction
  EXPECT_FALSE(v.matches("1e5"));
  EXPECT_TRUE(integer_values().matches("3.000"));
  EXPECT_FALSE(integer_values().matches("3.01"));
  EXPECT_TRUE(integer_plain().matches("-42"));
  EXPECT_FALSE(integer_plain().matches("42.0"));
}

TEST(JsonNumber, BoundsAgreeWithNumericComparison) {
  core::Xoshiro256 rng(3);
  const std::vector<Json> bounds = {
      Json(0),     Json(5),       Json(-5),
      Json(1.5),   Json(-0.25),   Json(100),
      Json(0.001), Json(-1000.5), Json(std::uint64_t{18446744073709551615ull}),
      Json(-3)};
  for (const Json& b : bounds) {
    const Dfa ge = *number_bound(b, Compare::kGreaterEqual);
    const Dfa gt = *number_bound(b, Compare::kGreater);
    const Dfa le = *number_bound(b, Compare::kLessEqual);
    const Dfa lt = *number_bound(b, Compare::kLess);
    for (int i = 0; i < 500; ++i) {
      const std::string text = random_number_text(rng);
      const Json x = Json::parse(text);
      const int c = schema::compare_numbers(x, b);
      EXPECT_EQ(ge.matches(text), c >= 0) << text << " >= " << b.dump();
      EXPECT_EQ(gt.matches(text), c > 0) << text << " > " << b.dump();
      EXPECT_EQ(le.matches(text), c <= 0) << text << " <= " << b.dump();
      EXPECT_EQ(lt.matches(text), c < 0) << text << " < " << b.dump();
    }
  }
}

TEST(JsonNumber, MultipleOfAgreesWithTheValidator) {
  core::Xoshiro256 rng(5);
  for (const Json& m : {Json(3), Json(0.5), Json(0.01), Json(7), Json(2.5), Json(1), Json(0.3)}) {
    const Dfa d = *number_multiple_of(m);
    for (int i = 0; i < 500; ++i) {
      const std::string text = random_number_text(rng);
      EXPECT_EQ(d.matches(text), schema::is_multiple_of(Json::parse(text), m))
          << text << " % " << m.dump();
    }
  }
  EXPECT_FALSE(number_multiple_of(Json(123457)).is_ok());
}

TEST(JsonNumber, ValuesHaveAllTheirSpellings) {
  const Dfa one = *number_value(Json(1));
  for (const char* s : {"1", "1.0", "1.000"}) EXPECT_TRUE(one.matches(s)) << s;
  for (const char* s : {"01", "1.01", "-1", "10"}) EXPECT_FALSE(one.matches(s)) << s;
  const Dfa zero = *number_value(Json(0));
  for (const char* s : {"0", "-0", "0.00", "-0.0"}) EXPECT_TRUE(zero.matches(s)) << s;
  const Dfa half = *number_value(Json(-2.5));
  EXPECT_TRUE(half.matches("-2.50"));
  EXPECT_FALSE(half.matches("2.5"));
  const DecimalText d = decimal_of(Json(0.000125));
  EXPECT_EQ(d.int_digits, "");
  EXPECT_EQ(d.frac_digits, "000125");
  EXPECT_EQ(decimal_of(Json(1.5e10)).int_digits, "15000000000");
}

TEST(JsonString, EncodingIsCanonical) {
  EXPECT_EQ(json_quote("a\"b\\c\n\x01/é"), "\"a\\\"b\\\\c\\n\\u0001/é\"");
  const Dfa any = *json_string_terminal(utf8_any(), Whitespace::kCompact);
  for (const char* ok :
       {"\"\"", "\"abc\"", "\"a\\\"b\"", "\"\\\\\"", "\"\\n\\t\"", "\"é中😀\"", "\"\x7f\""}) {
    EXPECT_TRUE(any.matches(ok)) << ok;
  }
  for (const char* bad : {"\"", "\"a", "abc", "\"\\x\"", "\"\\/\"", "\"a\nb\"", "\"\\u0041\"",
                          "\"\xC3\"", "\"\xED\xA0\x80\""}) {
    EXPECT_FALSE(any.matches(bad)) << bad;
  }
  // Finite contents keep \u00XX for control characters.
  const Dfa ctl =
      *json_string_terminal(*string_values({std::string("a\x01")}), Whitespace::kCompact);
  EXPECT_TRUE(ctl.matches("\"a\\u0001\""));
  const Dfa flex = *json_string_terminal(utf8_any(), Whitespace::kFlexible);
  EXPECT_TRUE(flex.matches(" \n\"x\""));
}

TEST(JsonString, LengthsCountCodePoints) {
  const Dfa two_to_three = *utf8_length(2, 3);
  EXPECT_TRUE(two_to_three.matches("ab"));
  EXPECT_TRUE(two_to_three.matches("中文字"));
  EXPECT_FALSE(two_to_three.matches("中"));
  EXPECT_FALSE(two_to_three.matches("abcd"));
  const Dfa at_least = *utf8_length(2, std::nullopt);
  EXPECT_TRUE(at_least.matches("😀😀😀😀"));
  EXPECT_FALSE(at_least.matches("😀"));
  EXPECT_TRUE(utf8_length(3, 2)->empty());
}

TEST(JsonTokens, HeadersAndValues) {
  const JsonTokens compact(Whitespace::kCompact);
  EXPECT_TRUE(compact.member_header("a b", true)->matches(",\"a b\":"));
  const JsonTokens py(Whitespace::kPython);
  EXPECT_TRUE(py.member_header("k", true)->matches(", \"k\": "));
  EXPECT_TRUE(py.value_literal(Json::parse(R"({"a":[1,2],"b":null})"))
                  ->matches(R"({"a": [1, 2], "b": null})"));
  const JsonTokens flex(Whitespace::kFlexible);
  EXPECT_TRUE(flex.member_header("k", false)->matches(" \"k\" :"));
  const Dfa h = *flex.pattern_header(*subtract(utf8_any(), literal_dfa("k")), true);
  EXPECT_TRUE(h.matches(" , \"x\" :"));
  EXPECT_FALSE(h.matches(",\"k\":"));
}

// Every format automaton generates only strings the format check accepts.
TEST(JsonFormat, GeneratedValuesPassTheChecks) {
  core::Xoshiro256 rng(9);
  for (const char* name :
       {"date", "time", "date-time", "duration", "uuid", "ipv4", "ipv6", "hostname", "email", "uri",
        "uri-reference", "json-pointer", "relative-json-pointer", "regex", "uri-template"}) {
    const Dfa* d = format_content(name);
    ASSERT_NE(d, nullptr) << name;
    const auto check = schema::find_format_checker(name);
    ASSERT_NE(check, nullptr) << name;
    for (int i = 0; i < 300; ++i) {
      // Random walk through the automaton, ending at an accepting state.
      std::string s;
      std::uint32_t st = d->start();
      for (int step = 0; step < 60; ++step) {
        if (d->accepting(st) && rng.below(4) == 0) break;
        std::vector<std::uint8_t> bytes;
        for (int b = 0; b < 256; ++b) {
          if (d->next(st, static_cast<std::uint8_t>(b)) != kDead)
            bytes.push_back(static_cast<std::uint8_t>(b));
        }
        if (bytes.empty()) break;
        const std::uint8_t b = bytes[rng.below(bytes.size())];
        s.push_back(static_cast<char>(b));
        st = d->next(st, b);
      }
      if (!d->accepting(st)) continue;
      EXPECT_TRUE(check(s)) << name << ": " << s;
    }
  }
  for (const char* sample : {"2024-02-29", "2023-12-31"})
    EXPECT_TRUE(format_content("date")->matches(sample));
  EXPECT_FALSE(format_content("date")->matches("2023-02-29"));
  EXPECT_TRUE(format_content("date-time")->matches("2024-01-02T03:04:05.6Z"));
  EXPECT_TRUE(format_content("email")->matches("a.b@example.com"));
  EXPECT_TRUE(format_content("uri")->matches("https://example.com/a?b=c#d"));
  EXPECT_EQ(format_content("no-such-format"), nullptr);
}

}  // namespace
}  // namespace mlxs::guidance
