// The module's building blocks: URIs, JSON pointers, UTF-8, numbers.

#include <gtest/gtest.h>

#include "schema/excerpt.h"
#include "schema/json_value.h"
#include "schema/uri.h"
#include "schema/utf8.h"

namespace mlxs::schema {
namespace {

using core::Json;

TEST(Uri, ResolvesPerRfc3986) {
  const std::string base = "http://a/b/c/d;p?q";
  EXPECT_EQ(resolve_uri(base, "g"), "http://a/b/c/g");
  EXPECT_EQ(resolve_uri(base, "./g"), "http://a/b/c/g");
  EXPECT_EQ(resolve_uri(base, "g/"), "http://a/b/c/g/");
  EXPECT_EQ(resolve_uri(base, "/g"), "http://a/g");
  EXPECT_EQ(resolve_uri(base, "//g"), "http://g");
  EXPECT_EQ(resolve_uri(base, "?y"), "http://a/b/c/d;p?y");
  EXPECT_EQ(resolve_uri(base, "#s"), "http://a/b/c/d;p?q#s");
  EXPECT_EQ(resolve_uri(base, ""), "http://a/b/c/d;p?q");
  EXPECT_EQ(resolve_uri(base, "../g"), "http://a/b/g");
  EXPECT_EQ(resolve_uri(base, "../../../g"), "http://a/g");
  EXPECT_EQ(resolve_uri(base, "g;x=1/../y"), "http://a/b/c/y");
  EXPECT_EQ(resolve_uri("urn:uuid:1234", "#frag"), "urn:uuid:1234#frag");
  EXPECT_EQ(split_fragment("a.json#/b").second, "/b");
  EXPECT_EQ(percent_decode("a%25b%2Fc"), "a%b/c");
}

TEST(Uri, JsonPointers) {
  const auto tokens = parse_json_pointer("/a~1b/~0c/");
  ASSERT_TRUE(tokens.has_value());
  EXPECT_EQ(*tokens, (std::vector<std::string>{"a/b", "~c", ""}));
  EXPECT_FALSE(parse_json_pointer("a").has_value());
  EXPECT_FALSE(parse_json_pointer("/~2").has_value());
  EXPECT_EQ(escape_pointer_token("a/b~c"), "a~1b~0c");
}

TEST(Utf8, CountsAndRepairs) {
  EXPECT_EQ(utf8::count_code_points("h\xC3\xA9llo\xF0\x9F\x90\xB2"), 6u);
  EXPECT_TRUE(utf8::is_valid("h\xC3\xA9"));
  EXPECT_FALSE(utf8::is_valid("\xC0\xAF"));      // overlong
  EXPECT_FALSE(utf8::is_valid("\xED\xA0\x80"));  // a surrogate
  EXPECT_EQ(utf8::count_code_points("\xFF\xFE"), 2u);
  std::string out;
  utf8::append(out, 0x1F432);
  EXPECT_EQ(out, "\xF0\x9F\x90\xB2");
}

TEST(Numbers, CompareExactly) {
  EXPECT_EQ(compare_numbers(Json(1), Json(1.0)), 0);
  EXPECT_LT(compare_numbers(Json(9007199254740992.0), Json(std::int64_t{9007199254740993})), 0);
  EXPECT_GT(compare_numbers(Json(std::uint64_t{18446744073709551615U}), Json(-1)), 0);
  EXPECT_LT(compare_numbers(Json(-0.5), Json(0)), 0);
  EXPECT_GT(compare_numbers(Json(1e300), Json(std::uint64_t{18446744073709551615U})), 0);
  EXPECT_TRUE(is_integer_value(Json(2.0)));
  EXPECT_FALSE(is_integer_value(Json(2.5)));
  EXPECT_TRUE(json_equal(Json::parse(R"({"a": [1, {"b": 2.0}]})"),
                         Json::parse(R"({"a": [1.0, {"b": 2}]})")));
  EXPECT_FALSE(json_equal(Json::parse("[1, 2]"), Json::parse("[2, 1]")));
  EXPECT_EQ(json_compare(Json::parse(R"({"a": 1})"), Json::parse(R"({"a": 1.0})")), 0);
}

TEST(Numbers, MultipleOf) {
  EXPECT_TRUE(is_multiple_of(Json(0.0075), Json(0.0001)));
  EXPECT_TRUE(is_multiple_of(Json(4.5), Json(1.5)));
  EXPECT_FALSE(is_multiple_of(Json(4.6), Json(1.5)));
  EXPECT_TRUE(is_multiple_of(Json(0), Json(0.3)));
  EXPECT_TRUE(is_multiple_of(Json(-12), Json(4)));
  EXPECT_TRUE(is_multiple_of(Json(std::int64_t{-9223372036854775807 - 1}), Json(2)));
  EXPECT_TRUE(is_multiple_of(Json(1e20), Json(1e-5)));
  EXPECT_FALSE(is_multiple_of(Json(1e-20), Json(1e-5)));
}

TEST(Excerpt, BoundedAsciiAndOneLine) {
  EXPECT_EQ(json_excerpt(Json::parse(R"({"a": [1, "x\"y"], "b": null})")),
            R"({"a":[1,"x\"y"],"b":null})");
  EXPECT_EQ(json_excerpt(Json::parse(R"("\u00e9\ud83d\udc32")")), R"("\u00e9\ud83d\udc32")");
  Json big = Json::array();
  for (int i = 0; i < 100000; ++i) big.push_back(i);
  const std::string e = json_excerpt(big, 20);
  EXPECT_LE(e.size(), 23u);
  EXPECT_EQ(e.substr(e.size() - 3), "...");
  EXPECT_EQ(json_excerpt(std::vector<Json>{Json(1), Json("a")}), R"([1,"a"])");
  EXPECT_EQ(one_line("a\nb\x01"), "a\\nb\\x01");
  EXPECT_EQ(one_line("\xC3\xA9\xC3\xA9\xC3\xA9", 2), "\xC3\xA9\xC3\xA9...");  // cut on code points
  EXPECT_EQ(one_line("a\xFF"
                     "b"),
            "a\xEF\xBF\xBD"
            "b");  // U+FFFD
}

}  // namespace
}  // namespace mlxs::schema
