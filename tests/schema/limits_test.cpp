// Hostile input: deep nesting, recursive $ref cycles, exponential schemas and
// huge enums must end quickly with a coded error, never crash or hang.

#include <string>

#include <gtest/gtest.h>

#include "schema/schema.h"
#include "test_util.h"

namespace mlxs::schema {
namespace {

using core::Json;
using test::compile_ok;

bool has_keyword(const ValidationResult& r, const std::string& keyword) {
  for (const auto& e : r.errors) {
    if (e.keyword == keyword) return true;
  }
  return false;
}

TEST(Limits, DeeplyNestedSchemaIsRefused) {
  Json schema = true;
  for (int i = 0; i < 5000; ++i) schema = Json{{"not", std::move(schema)}};
  auto compiled = Schema::compile(schema);
  ASSERT_FALSE(compiled.is_ok());
  EXPECT_EQ(compiled.status().code(), core::ErrorCode::kInvalidParams);
  EXPECT_NE(compiled.status().message().find("nested deeper than"), std::string::npos);
  // Within the bound it compiles and evaluates.
  Json ok = true;
  for (int i = 0; i < 250; ++i) ok = Json{{"not", std::move(ok)}};
  auto fine = Schema::compile(ok);
  ASSERT_TRUE(fine.is_ok());
  EXPECT_TRUE(fine->validate(1).valid);  // an even number of nots
}

TEST(Limits, DeeplyNestedInstanceHitsTheDepthBound) {
  const Schema s = compile_ok(R"({"type": "array", "items": {"$ref": "#"}})");
  Json deep = Json::array();
  for (int i = 0; i < 3000; ++i) deep = Json::array({std::move(deep)});
  const ValidationResult r = s.validate(deep);
  EXPECT_FALSE(r.valid);
  EXPECT_TRUE(has_keyword(r, "limit")) << r.summary();
  EXPECT_FALSE(s.is_valid(deep));
  Json shallow = Json::array();
  for (int i = 0; i < 100; ++i) shallow = Json::array({std::move(shallow)});
  EXPECT_TRUE(s.validate(shallow).valid);
}

TEST(Limits, RefCyclesWithoutProgressEndWithAnError) {
  for (
      const char* text :
      {R"({"$ref": "#"})",
       R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})",
       R"({"anyOf": [{"$ref": "#"}], "type": "object"})",
       R"({"$defs": {"x": {"allOf": [{"$ref": "#/$defs/x"}]}}, "not": {"$ref": "#/$defs/x"}})"}) {
    const Schema s = compile_ok(text);
    const ValidationResult r = s.validate(Json::parse(R"({"a": [1, 2]})"));
    EXPECT_FALSE(r.valid) << text;
    EXPECT_TRUE(has_keyword(r, "limit")) << text << ": " << r.summary();
    EXPECT_FALSE(s.is_valid(Json::parse("{}")));
  }
  // A cycle behind a failing check is never entered.
  EXPECT_EQ(
      compile_ok(R"({"anyOf": [{"$ref": "#"}], "type": "string"})").validate(Json(1)).errors.size(),
      2u);
}

TEST(Limits, ExponentialSchemasHitTheWorkBound) {
  // d0 = anyOf[d1, d1], …, d40 = false: 2^40 evaluations without a bound.
  Json defs = Json::object();
  for (int i = 0; i < 40; ++i) {
    const std::string next = "#/$defs/d" + std::to_string(i + 1);
    defs["d" + std::to_string(i)] =
        Json{{"anyOf", Json::array({Json{{"$ref", next}}, Json{{"$ref", next}}})}};
  }
  defs["d40"] = false;
  CompileOptions options;
  options.max_eval_steps = 200000;
  auto s = Schema::compile(Json{{"$defs", defs}, {"$ref", "#/$defs/d0"}}, options);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const ValidationResult r = s->validate(1);
  EXPECT_FALSE(r.valid);
  EXPECT_TRUE(has_keyword(r, "limit")) << r.summary();
}

TEST(Limits, HugeEnumsAndArrays) {
  Json values = Json::array();
  for (int i = 0; i < 100000; ++i) values.push_back("v" + std::to_string(i));
  auto s = Schema::compile(Json{{"enum", values}});
  ASSERT_TRUE(s.is_ok());
  EXPECT_TRUE(s->validate("v99999").valid);
  const ValidationResult r = s->validate("nope");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_LT(r.errors[0].message.size(), 300u);  // the excerpt stays short

  const Schema unique = compile_ok(R"({"uniqueItems": true})");
  Json many = Json::array();
  for (int i = 0; i < 100000; ++i) many.push_back(i);
  EXPECT_TRUE(unique.validate(many).valid);  // sorted, not quadratic
  many.push_back(5.0);
  EXPECT_FALSE(unique.validate(many).valid);
}

TEST(Limits, RegexWorkCountsTowardsTheBound) {
  CompileOptions options;
  options.max_eval_steps = 100000;
  auto s = Schema::compile(Json{{"items", {{"pattern", "^(a|b|c|d){1,300}$"}}}}, options);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  Json strings = Json::array();
  for (int i = 0; i < 10; ++i) strings.push_back(std::string(100000, 'a'));
  const ValidationResult r = s->validate(strings);
  EXPECT_FALSE(r.valid);
  EXPECT_TRUE(has_keyword(r, "limit")) << r.summary();
  EXPECT_TRUE(s->validate(Json::array({"abcd"})).valid);
}

TEST(Limits, ManySubschemasAreBounded) {
  CompileOptions options;
  options.max_nodes = 50;
  Json props = Json::object();
  for (int i = 0; i < 100; ++i) props["p" + std::to_string(i)] = Json::object();
  auto s = Schema::compile(Json{{"properties", props}}, options);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("more than 50 subschemas"), std::string::npos);
}

TEST(Limits, HugePatternsAreRefused) {
  auto s = Schema::compile(Json{{"pattern", "((a{1000}){1000}){1000}"}});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("#/pattern"), std::string::npos);
  // Many patterns, each within its own bound, still share one budget.
  CompileOptions options;
  options.max_regex_total = 10000;
  Json props = Json::object();
  for (int i = 0; i < 100; ++i) props["p" + std::to_string(i)] = Json{{"pattern", "\\p{L}{200}"}};
  auto many = Schema::compile(Json{{"properties", props}}, options);
  ASSERT_FALSE(many.is_ok());
  EXPECT_NE(many.status().message().find("patterns exceed 10000 units"), std::string::npos)
      << many.status().message();
}

}  // namespace
}  // namespace mlxs::schema
