// JSON Schema constraints keyword by keyword: each schema compiles, random
// walks through it give JSON that parses and validates (the schema module
// with format assertion on), instances the schema accepts are accepted and
// instances it refuses are refused; what cannot be enforced is a
// GuidanceError naming the keyword and its location.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "guidance/compiler.h"
#include "guidance_test_util.h"
#include "schema/schema.h"

namespace mlxs::guidance {
namespace {

using core::Json;

struct KeywordCase {
  const char* keyword;
  const char* schema;
  std::vector<const char*> valid;  // compact JSON, keys in schema order
  std::vector<const char*> invalid;
};

const std::vector<KeywordCase>& keyword_cases() {
  static const std::vector<KeywordCase> cases = {
      {"type", R"({"type":"integer"})", {"0", "-12", "7"}, {"1.5", "\"1\"", "null"}},
      {"type union", R"({"type":["string","null"]})", {"null", "\"x\""}, {"1", "true"}},
      {"boolean", R"({"type":"boolean"})", {"true", "false"}, {"0"}},
      {"properties",
       R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}})",
       {"{}", "{\"a\":\"x\"}", "{\"a\":\"x\",\"b\":2.5}", "{\"b\":1}", "{\"c\":[1]}"},
       {"{\"a\":1}", "[]"}},
      {"required",
       R"({"type":"object","properties":{"a":{"type":"string"}},"required":["a","z"]})",
       {"{\"a\":\"\",\"z\":0}"},
       {"{\"a\":\"x\"}", "{}"}},
      {"additionalProperties false",
       R"({"type":"object","properties":{"a":{"type":"boolean"}},"additionalProperties":false})",
       {"{}", "{\"a\":true}"},
       {"{\"b\":1}", "{\"a\":true,\"b\":1}"}},
      {"additionalProperties schema",
       R"({"type":"object","additionalProperties":{"type":"integer"}})",
       {"{\"x\":1,\"y\":2}"},
       {"{\"x\":\"s\"}"}},
      {"patternProperties",
       R"({"type":"object","patternProperties":{"^s_":{"type":"string"},"^n_":{"type":"number"}},"additionalProperties":false})",
       {"{\"s_a\":\"v\",\"n_b\":3}"},
       {"{\"s_a\":3}", "{\"x\":1}"}},
      {"propertyNames",
       R"({"type":"object","propertyNames":{"pattern":"^[a-z]+$"}})",
       {"{\"abc\":1}"},
       {"{\"A\":1}"}},
      {"minProperties/maxProperties",
       R"({"type":"object","minProperties":1,"maxProperties":2})",
       {"{\"a\":1}", "{\"a\":1,\"b\":2}"},
       {"{}", "{\"a\":1,\"b\":2,\"c\":3}"}},
      {"items",
       R"({"type":"array","items":{"type":"integer"}})",
       {"[]", "[1,2,3]"},
       {"[\"a\"]", "{}"}},
      {"prefixItems",
       R"({"type":"array","prefixItems":[{"type":"string"},{"type":"boolean"}],"items":false})",
       {"[]", "[\"a\"]", "[\"a\",true]"},
       {"[\"a\",true,1]", "[1]"}},
      {"minItems/maxItems",
       R"({"type":"array","items":{"type":"null"},"minItems":1,"maxItems":2})",
       {"[null]", "[null,null]"},
       {"[]", "[null,null,null]"}},
      {"contains",
       R"({"type":"array","items":{"type":"integer"},"contains":{"minimum":10}})",
       {"[10]", "[1,20,3]"},
       {"[]", "[1,2]"}},
      {"uniqueItems",
       R"({"type":"array","items":{"enum":["a","b","c"]},"uniqueItems":true})",
       {"[]", "[\"a\",\"c\"]", "[\"c\",\"b\",\"a\"]"},
       {"[\"a\",\"a\"]"}},
      {"enum",
       R"({"enum":["red",2,null,true,{"a":1},[1,2]]})",
       {"\"red\"", "2", "null", "true", "{\"a\":1}", "[1,2]"},
       {"\"blue\"", "3", "false"}},
      {"const", R"({"const":"fixed"})", {"\"fixed\""}, {"\"other\""}},
      {"minLength/maxLength",
       R"({"type":"string","minLength":2,"maxLength":3})",
       {"\"ab\"", "\"中文字\""},
       {"\"a\"", "\"abcd\""}},
      {"pattern",
       R"({"type":"string","pattern":"^[A-Z]{2}-\\d+$"})",
       {"\"AB-12\""},
       {"\"ab-12\"", "\"AB-\""}},
      {"pattern search", R"({"type":"string","pattern":"e"})", {"\"a needle b\""}, {"\"hay\""}},
      {"format date-time",
       R"({"type":"string","format":"date-time"})",
       {"\"2024-02-29T12:30:00Z\""},
       {"\"2023-02-29T12:30:00Z\"", "\"yesterday\""}},
      {"format email",
       R"({"type":"string","format":"email"})",
       {"\"a.b@example.com\""},
       {"\"not an email\""}},
      {"format uuid",
       R"({"type":"string","format":"uuid"})",
       {"\"123e4567-e89b-12d3-a456-426614174000\""},
       {"\"123\""}},
      {"format ipv4",
       R"({"type":"string","format":"ipv4"})",
       {"\"192.168.0.1\""},
       {"\"256.1.1.1\""}},
      {"format date",
       R"({"type":"string","format":"date"})",
       {"\"2020-01-31\""},
       {"\"2020-04-31\""}},
      {"minimum/maximum",
       R"({"type":"number","minimum":-1.5,"maximum":10})",
       {"-1.5", "0", "9.99", "10"},
       {"-2", "10.01"}},
      {"exclusiveMinimum/exclusiveMaximum",
       R"({"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":5})",
       {"1", "4"},
       {"0", "5"}},
      {"multipleOf", R"({"type":"number","multipleOf":0.25})", {"0.5", "1.75", "-2"}, {"0.3"}},
      {"allOf",
       R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
          {"properties":{"b":{"type":"string"}},"required":["b"]}]})",
       {"{\"a\":1,\"b\":\"x\"}"},
       {"{\"a\":1}"}},
      {"anyOf",
       R"({"anyOf":[{"type":"string","maxLength":2},{"type":"integer","minimum":100}]})",
       {"\"ab\"", "100"},
       {"\"abc\"", "99"}},
      {"oneOf",
       R"({"oneOf":[{"type":"object","properties":{"kind":{"const":"a"},"x":{"type":"integer"}},"required":["kind"]},
          {"type":"object","properties":{"kind":{"const":"b"},"y":{"type":"string"}},"required":["kind"]}]})",
       {"{\"kind\":\"a\",\"x\":1}", "{\"kind\":\"b\",\"y\":\"s\"}"},
       {"{\"kind\":\"c\"}"}},
      {"oneOf overlapping",
       R"({"oneOf":[{"type":"integer","maximum":10},{"type":"integer","minimum":5}]})",
       {"1", "11"},
       {"7"}},
      {"not", R"({"type":"string","not":{"enum":["forbidden"]}})", {"\"ok\""}, {"\"forbidden\""}},
      {"not required",
       R"({"type":"object","properties":{"a":{},"b":{}},"not":{"required":["a","b"]}})",
       {"{\"a\":1}", "{\"b\":1}"},
       {"{\"a\":1,\"b\":2}"}},
      {"if/then/else",
       R"({"type":"object","properties":{"t":{"enum":["n","s"]},"v":{}},"required":["t","v"],
          "if":{"properties":{"t":{"const":"n"}}},"then":{"properties":{"v":{"type":"number"}}},
          "else":{"properties":{"v":{"type":"string"}}}})",
       {"{\"t\":\"n\",\"v\":1}", "{\"t\":\"s\",\"v\":\"x\"}"},
       {"{\"t\":\"n\",\"v\":\"x\"}"}},
      {"dependentRequired",
       R"({"type":"object","properties":{"card":{},"billing":{}},"dependentRequired":{"card":["billing"]}})",
       {"{}", "{\"card\":1,\"billing\":2}", "{\"billing\":2}"},
       {"{\"card\":1}"}},
      {"$ref and $defs",
       R"({"$defs":{"pos":{"type":"integer","minimum":1}},"type":"array","items":{"$ref":"#/$defs/pos"}})",
       {"[1,2]"},
       {"[0]"}},
      {"recursion",
       R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
          "next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"],"additionalProperties":false}},
          "$ref":"#/$defs/node"})",
       {"{\"v\":1,\"next\":null}", "{\"v\":1,\"next\":{\"v\":2,\"next\":null}}"},
       {"{\"v\":1}"}},
      {"nullable draft 7",
       R"({"$schema":"http://json-schema.org/draft-07/schema#","type":["integer","null"],"maximum":3})",
       {"null", "3"},
       {"4"}},
      {"true schema", "true", {"1", "{\"a\":[null]}"}, {}},
  };
  return cases;
}

schema::Schema validator(const std::string& text) {
  schema::CompileOptions o;
  o.format_assertion = true;
  return std::move(schema::Schema::compile(Json::parse(text), o)).value();
}

TEST(JsonSchema, EveryKeywordGeneratesValidOutputAndDecidesInstances) {
  Compiler* compiler = test::llama3_compiler();
  if (compiler == nullptr) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  core::Xoshiro256 rng(1);
  for (const KeywordCase& c : keyword_cases()) {
    SCOPED_TRACE(c.keyword);
    auto g = compiler->json_schema(c.schema);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    const schema::Schema check = validator(c.schema);
    for (const char* v : c.valid) {
      EXPECT_TRUE(check.is_valid(Json::parse(v))) << "fixture: " << v;
      EXPECT_TRUE(test::accepts_text(*g, v)) << "valid instance refused: " << v;
    }
    for (const char* v : c.invalid) {
      EXPECT_FALSE(check.is_valid(Json::parse(v))) << "fixture: " << v;
      EXPECT_FALSE(test::accepts_text(*g, v)) << "invalid instance accepted: " << v;
    }
    int complete = 0;
    for (int i = 0; i < 25; ++i) {
      const test::Walk w = test::random_walk(*g, rng);
      ASSERT_FALSE(w.stuck) << w.error << " after '" << w.text << "'";
      if (!w.complete) continue;
      ++complete;
      const Json parsed = Json::parse(w.text, nullptr, false);
      ASSERT_FALSE(parsed.is_discarded()) << "not JSON: " << w.text;
      EXPECT_TRUE(check.is_valid(parsed))
          << "invalid output: " << w.text << " (" << check.validate(parsed).summary() << ")";
    }
    EXPECT_GT(complete, 0) << "no random walk finished";
  }
}

TEST(JsonSchema, WhitespacePolicies) {
  Compiler* compiler = test::llama3_compiler();
  if (compiler == nullptr) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  const char* schema =
      R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"}},"b":{"type":"string"}}})";
  JsonSchemaOptions compact, python, flexible;
  python.whitespace = Whitespace::kPython;
  flexible.whitespace = Whitespace::kFlexible;
  auto gc = compiler->json_schema(schema, compact);
  auto gp = compiler->json_schema(schema, python);
  auto gf = compiler->json_schema(schema, flexible);
  ASSERT_TRUE(gc.is_ok() && gp.is_ok() && gf.is_ok());
  const std::string c = R"({"a":[1,2],"b":"x"})";
  const std::string p = R"({"a": [1, 2], "b": "x"})";
  const std::string f = " {\n  \"a\" : [ 1 ,2 ] ,\"b\":\"x\"\n}";
  EXPECT_TRUE(test::accepts_text(*gc, c));
  EXPECT_FALSE(test::accepts_text(*gc, p));
  EXPECT_TRUE(test::accepts_text(*gp, p));
  EXPECT_FALSE(test::accepts_text(*gp, c));
  EXPECT_TRUE(test::accepts_text(*gf, c));
  EXPECT_TRUE(test::accepts_text(*gf, p));
  EXPECT_TRUE(test::accepts_text(*gf, f));
  // Properties come in the order the schema text defines them.
  auto ordered = compiler->json_schema(
      R"({"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"integer"}},
      "required":["z","a"],"additionalProperties":false})");
  ASSERT_TRUE(ordered.is_ok());
  EXPECT_TRUE(test::accepts_text(*ordered, R"({"z":1,"a":2})"));
  EXPECT_FALSE(test::accepts_text(*ordered, R"({"a":2,"z":1})"));
}

TEST(JsonSchema, UnsupportedKeywordsNameTheKeywordAndLocation) {
  Compiler* compiler = test::llama3_compiler();
  if (compiler == nullptr) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  struct Bad {
    const char* schema;
    const char* location;
  };
  for (
      const Bad& b : std::vector<Bad>{
          {R"({"type":"object","properties":{"list":{"type":"array","items":{"type":"string"},"uniqueItems":true}}})",
           "#/properties/list"},
          {R"({"type":"object","unevaluatedProperties":false})", "#/unevaluatedProperties"},
          {R"({"type":"array","contains":{"type":"string"},"maxContains":2})", "#/maxContains"},
          {R"({"type":"string","pattern":"\\bword\\b"})", "#/pattern"},
          {R"({"type":"number","multipleOf":123457})", "#/multipleOf"},
          {R"({"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})", "#/$defs/a"},
          {R"({"not":{"type":"object","additionalProperties":false}})", "#/not"},
          {R"({"type":"string","format":"my-format"})", nullptr},
      }) {
    JsonSchemaOptions strict;
    strict.lowering.strict_formats = true;
    auto g = compiler->json_schema(b.schema, strict);
    ASSERT_FALSE(g.is_ok()) << b.schema;
    EXPECT_EQ(g.status().code(), core::ErrorCode::kGuidanceError);
    if (b.location != nullptr) {
      EXPECT_NE(g.status().message().find(b.location), std::string::npos) << g.status().message();
    }
  }
  // Unknown formats are annotations by default (any string).
  EXPECT_TRUE(compiler->json_schema(R"({"type":"string","format":"my-format"})").is_ok());
  // Invalid schemas and schemas nothing satisfies.
  EXPECT_FALSE(compiler->json_schema(R"({"type":"nonsense"})").is_ok());
  EXPECT_FALSE(compiler->json_schema(R"({"type":"string","minLength":3,"maxLength":2})").is_ok());
  EXPECT_FALSE(compiler->json_schema("{not json").is_ok());
}

}  // namespace
}  // namespace mlxs::guidance
