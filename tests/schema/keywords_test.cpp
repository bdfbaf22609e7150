// One test per keyword (both drafts where they differ): the decision, and the
// error each failure reports (instance path, schema path, code, message).

#include <gtest/gtest.h>

#include "test_util.h"

namespace mlxs::schema {
namespace {

using test::check;
using test::compile_ok;
using test::only_error;
using test::valid;

TEST(Keywords, TypeSingleAndUnion) {
  const Schema s = compile_ok(R"({"type": "integer"})");
  EXPECT_TRUE(valid(s, "1"));
  EXPECT_TRUE(valid(s, "1.0"));  // integer-valued floats are integers
  EXPECT_FALSE(valid(s, "1.5"));
  const ValidationError e = only_error(check(s, R"("x")"));
  EXPECT_EQ(e.keyword, "type");
  EXPECT_EQ(e.instance_path, "");
  EXPECT_EQ(e.schema_path, "#/type");
  EXPECT_EQ(e.message, "expected integer, got string");

  const Schema u = compile_ok(R"({"type": ["string", "null"]})");
  EXPECT_TRUE(valid(u, "null"));
  EXPECT_TRUE(valid(u, R"("a")"));
  EXPECT_EQ(only_error(check(u, "3")).message, "expected one of [null, string], got integer");
  EXPECT_TRUE(valid(compile_ok(R"({"type": "number"})"), "3"));
}

TEST(Keywords, PropertiesRequiredAdditional) {
  const Schema s = compile_ok(R"({
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"minLength": 3}, "c": true},
    "required": ["a", "c"],
    "additionalProperties": false})");
  EXPECT_TRUE(valid(s, R"({"a": 1, "c": null})"));
  const ValidationResult r = check(s, R"({"a": "x", "b": "y", "d": 1})");
  ASSERT_EQ(r.errors.size(), 4u) << r.summary();
  EXPECT_EQ(r.errors[0].keyword, "required");
  EXPECT_EQ(r.errors[0].instance_path, "");
  EXPECT_EQ(r.errors[0].message, "missing required property 'c'");
  EXPECT_EQ(r.errors[1].keyword, "type");
  EXPECT_EQ(r.errors[1].instance_path, "/a");
  EXPECT_EQ(r.errors[1].schema_path, "#/properties/a/type");
  EXPECT_EQ(r.errors[2].keyword, "minLength");
  EXPECT_EQ(r.errors[2].instance_path, "/b");
  EXPECT_EQ(r.errors[3].keyword, "additionalProperties");
  EXPECT_EQ(r.errors[3].instance_path, "/d");
  EXPECT_EQ(r.errors[3].schema_path, "#/additionalProperties");
  EXPECT_EQ(r.summary(),
            "4 errors: (root): missing required property 'c'; /a: expected integer, got string; "
            "/b: must be at least 3 characters long; and 1 more");
}

TEST(Keywords, TheSummaryIsOneLineWhateverTheNamesHold) {
  // A property name with a newline stays raw in the pointer; the summary
  // escapes it (found by schema_fuzz).
  const Schema s = compile_ok(R"({"propertyNames": {"pattern": "^a"}})");
  const ValidationResult r = check(s, R"({"b\nc": 1})");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].instance_path, "/b\nc");
  EXPECT_EQ(r.summary(), "1 error: /b\\nc: property name does not match pattern '^a'");
}

TEST(Keywords, AdditionalPropertiesSchemaAndPatternProperties) {
  const Schema s = compile_ok(R"({
    "patternProperties": {"^x-": {"type": "string"}},
    "additionalProperties": {"type": "number"}})");
  EXPECT_TRUE(valid(s, R"({"x-a": "s", "n": 1})"));
  const ValidationError e = only_error(check(s, R"({"x-a": 1})"));
  EXPECT_EQ(e.schema_path, "#/patternProperties/^x-/type");
  EXPECT_EQ(e.instance_path, "/x-a");
  EXPECT_EQ(only_error(check(s, R"({"n": "s"})")).schema_path, "#/additionalProperties/type");
}

TEST(Keywords, PathsEscapeJsonPointerTokens) {
  const Schema s = compile_ok(R"({"properties": {"a/b~c": {"type": "string"}}})");
  const ValidationError e = only_error(check(s, R"({"a/b~c": 1})"));
  EXPECT_EQ(e.instance_path, "/a~1b~0c");
  EXPECT_EQ(e.schema_path, "#/properties/a~1b~0c/type");
}

TEST(Keywords, ItemsPrefixItemsAndDraft7Tuples) {
  const Schema s =
      compile_ok(R"({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}})");
  EXPECT_TRUE(valid(s, R"(["a", 1, 2])"));
  const ValidationError e = only_error(check(s, R"(["a", 1, "b"])"));
  EXPECT_EQ(e.instance_path, "/2");
  EXPECT_EQ(e.schema_path, "#/items/type");
  const Schema closed = compile_ok(R"({"prefixItems": [true], "items": false})");
  const ValidationError c = only_error(check(closed, "[1, 2]"));
  EXPECT_EQ(c.keyword, "items");
  EXPECT_EQ(c.instance_path, "/1");

  const Schema d7 = compile_ok(R"({"$schema": "http://json-schema.org/draft-07/schema#",
                                   "items": [{"type": "string"}], "additionalItems": false})");
  EXPECT_TRUE(valid(d7, R"(["a"])"));
  EXPECT_FALSE(valid(d7, R"(["a", 1])"));
  // In draft 7 additionalItems means nothing without the array form.
  const Schema d7b = compile_ok(R"({"$schema": "http://json-schema.org/draft-07/schema#",
                                    "items": {"type": "string"}, "additionalItems": false})");
  EXPECT_TRUE(valid(d7b, R"(["a", "b"])"));
}

TEST(Keywords, ContainsMinMax) {
  const Schema s = compile_ok(R"({"contains": {"const": 1}, "minContains": 2, "maxContains": 3})");
  EXPECT_TRUE(valid(s, "[1, 1, 2]"));
  EXPECT_EQ(only_error(check(s, "[1, 2]")).keyword, "minContains");
  EXPECT_EQ(only_error(check(s, "[1, 1, 1, 1]")).keyword, "maxContains");
  EXPECT_EQ(only_error(check(compile_ok(R"({"contains": {"const": 1}})"), "[2]")).keyword,
            "contains");
  EXPECT_TRUE(valid(compile_ok(R"({"contains": false, "minContains": 0})"), "[1]"));
  EXPECT_TRUE(valid(s, R"("not an array")"));
}

TEST(Keywords, ArraySizesAndUniqueness) {
  const Schema s = compile_ok(R"({"minItems": 1, "maxItems": 3, "uniqueItems": true})");
  EXPECT_EQ(only_error(check(s, "[]")).keyword, "minItems");
  EXPECT_EQ(only_error(check(s, "[1, 2, 3, 4]")).keyword, "maxItems");
  const ValidationError u = only_error(check(s, R"([{"a": 1}, 2, {"a": 1.0}])"));
  EXPECT_EQ(u.keyword, "uniqueItems");
  EXPECT_EQ(u.message, "items at indices 0 and 2 are equal");
  EXPECT_TRUE(valid(s, R"([1, "1", [1]])"));
  EXPECT_TRUE(valid(s, "[0, false]"));
}

TEST(Keywords, EnumAndConst) {
  const Schema e = compile_ok(R"({"enum": ["a", 1, null, {"k": [1]}]})");
  EXPECT_TRUE(valid(e, "1.0"));
  EXPECT_TRUE(valid(e, R"({"k": [1.0]})"));
  const ValidationError err = only_error(check(e, R"("b")"));
  EXPECT_EQ(err.keyword, "enum");
  EXPECT_EQ(err.message.rfind("must be one of [", 0), 0u) << err.message;
  const Schema c = compile_ok(R"({"const": {"a": [false]}})");
  EXPECT_TRUE(valid(c, R"({"a": [false]})"));
  EXPECT_FALSE(valid(c, R"({"a": [0]})"));
  EXPECT_EQ(only_error(check(c, "1")).keyword, "const");
}

TEST(Keywords, Combinators) {
  const Schema all = compile_ok(R"({"allOf": [{"type": "integer"}, {"minimum": 2}]})");
  EXPECT_TRUE(valid(all, "3"));
  EXPECT_EQ(only_error(check(all, "1")).schema_path, "#/allOf/1/minimum");
  const Schema any = compile_ok(R"({"anyOf": [{"type": "string"}, {"type": "integer"}]})");
  EXPECT_TRUE(valid(any, "1"));
  EXPECT_EQ(only_error(check(any, "1.5")).keyword, "anyOf");
  const Schema one = compile_ok(R"({"oneOf": [{"type": "integer"}, {"minimum": 2}]})");
  EXPECT_TRUE(valid(one, "1"));
  const ValidationError both = only_error(check(one, "3"));
  EXPECT_EQ(both.keyword, "oneOf");
  EXPECT_EQ(both.message, "must match exactly one of 2 alternatives, matched 0 and 1");
  const Schema no = compile_ok(R"({"not": {"type": "null"}})");
  EXPECT_TRUE(valid(no, "1"));
  EXPECT_EQ(only_error(check(no, "null")).keyword, "not");
}

TEST(Keywords, FailedAlternativesExplainTheMeantOne) {
  // A discriminated union: the error names the branch the "role" selects.
  const Schema s = compile_ok(R"({"oneOf": [
      {"properties": {"role": {"const": "system"}, "content": {"type": "string"}}, "required": ["role"]},
      {"properties": {"role": {"const": "user"}, "content": {"type": "array"}}, "required": ["role"]}]})");
  const ValidationResult r = check(s, R"({"role": "user", "content": 5})");
  ASSERT_EQ(r.errors.size(), 2u) << r.summary();
  EXPECT_EQ(r.errors[0].keyword, "oneOf");
  EXPECT_EQ(r.errors[1].keyword, "type");
  EXPECT_EQ(r.errors[1].instance_path, "/content");
  EXPECT_EQ(r.errors[1].schema_path, "#/oneOf/1/properties/content/type");
  // No branch applies: only the combinator's error.
  EXPECT_EQ(
      check(compile_ok(R"({"anyOf": [{"type": "string"}, {"type": "null"}]})"), "1").errors.size(),
      1u);
}

TEST(Keywords, IfThenElse) {
  const Schema s = compile_ok(R"({"if": {"properties": {"kind": {"const": "a"}}},
                                  "then": {"required": ["a"]}, "else": {"required": ["b"]}})");
  EXPECT_TRUE(valid(s, R"({"kind": "a", "a": 1})"));
  EXPECT_TRUE(valid(s, R"({"kind": "z", "b": 1})"));
  EXPECT_EQ(only_error(check(s, R"({"kind": "a"})")).schema_path, "#/then/required");
  EXPECT_EQ(only_error(check(s, R"({"kind": "z"})")).schema_path, "#/else/required");
  EXPECT_TRUE(valid(compile_ok(R"({"then": false})"), "1"));  // then without if: ignored
}

TEST(Keywords, DependentRequiredSchemasAndDraft7Dependencies) {
  const Schema s = compile_ok(R"({"dependentRequired": {"card": ["cvv"]},
                                  "dependentSchemas": {"pin": {"required": ["user"]}}})");
  EXPECT_TRUE(valid(s, R"({"card": 1, "cvv": 2})"));
  const ValidationError e = only_error(check(s, R"({"card": 1})"));
  EXPECT_EQ(e.keyword, "dependentRequired");
  EXPECT_EQ(e.message, "property 'cvv' is required when 'card' is present");
  EXPECT_EQ(only_error(check(s, R"({"pin": 1})")).schema_path, "#/dependentSchemas/pin/required");
  const Schema d7 = compile_ok(R"({"$schema": "http://json-schema.org/draft-07/schema#",
                                   "dependencies": {"a": ["b"], "c": {"required": ["d"]}}})");
  EXPECT_FALSE(valid(d7, R"({"a": 1})"));
  EXPECT_FALSE(valid(d7, R"({"c": 1})"));
  EXPECT_TRUE(valid(d7, R"({"a": 1, "b": 2, "c": 3, "d": 4})"));
}

TEST(Keywords, PropertyNamesAndCounts) {
  const Schema s = compile_ok(
      R"({"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1, "maxProperties": 2})");
  EXPECT_TRUE(valid(s, R"({"ab": 1})"));
  const ValidationError e = only_error(check(s, R"({"aB": 1})"));
  EXPECT_EQ(e.keyword, "pattern");
  EXPECT_EQ(e.instance_path, "/aB");
  EXPECT_EQ(e.message, "property name does not match pattern '^[a-z]+$'");
  EXPECT_EQ(only_error(check(s, "{}")).keyword, "minProperties");
  EXPECT_EQ(only_error(check(s, R"({"a": 1, "b": 2, "c": 3})")).keyword, "maxProperties");
}

TEST(Keywords, StringLengthsCountCodePoints) {
  const Schema s = compile_ok(R"({"minLength": 2, "maxLength": 3})");
  EXPECT_TRUE(valid(s, "\"\xF0\x9F\x90\xB2\xF0\x9F\x90\xB2\""));  // two code points, 8 bytes
  EXPECT_FALSE(valid(s, "\"\xC3\xA9\""));
  EXPECT_EQ(only_error(check(s, R"("abcd")")).message, "must be at most 3 characters long");
}

TEST(Keywords, PatternIsASearch) {
  const Schema s = compile_ok(R"({"pattern": "b+"})");
  EXPECT_TRUE(valid(s, R"("abbc")"));
  const ValidationError e = only_error(check(s, R"("ac")"));
  EXPECT_EQ(e.keyword, "pattern");
  EXPECT_EQ(e.message, "does not match pattern 'b+'");
  EXPECT_TRUE(valid(s, "12"));  // non-strings are not checked
}

TEST(Keywords, NumericBounds) {
  const Schema s = compile_ok(
      R"({"minimum": 1, "maximum": 10, "exclusiveMinimum": 0, "exclusiveMaximum": 9.5})");
  EXPECT_TRUE(valid(s, "1"));
  EXPECT_TRUE(valid(s, "9.4"));
  EXPECT_EQ(only_error(check(s, "0.5")).message, "must be >= 1");
  EXPECT_EQ(only_error(check(s, "9.5")).keyword, "exclusiveMaximum");
  // Exact across integer and float representations.
  const Schema big = compile_ok(R"({"maximum": 9007199254740992})");
  EXPECT_FALSE(valid(big, "9007199254740993"));
  EXPECT_TRUE(valid(compile_ok(R"({"maximum": 18446744073709551615})"), "18446744073709551615"));
  EXPECT_FALSE(valid(compile_ok(R"({"minimum": -1})"), "-9223372036854775808"));
}

TEST(Keywords, MultipleOfIsDecimalExact) {
  const Schema s = compile_ok(R"({"multipleOf": 0.0001})");
  EXPECT_TRUE(valid(s, "0.0075"));
  EXPECT_TRUE(valid(s, "12.3456"));
  EXPECT_FALSE(valid(s, "0.00751"));
  EXPECT_TRUE(valid(compile_ok(R"({"multipleOf": 0.01})"), "19.99"));
  EXPECT_TRUE(valid(compile_ok(R"({"multipleOf": 0.1})"), "0.3"));
  EXPECT_TRUE(valid(compile_ok(R"({"multipleOf": 3})"), "-9"));
  EXPECT_FALSE(valid(compile_ok(R"({"multipleOf": 3})"), "10"));
  EXPECT_TRUE(valid(compile_ok(R"({"multipleOf": 0.5})"), "1e308"));
  EXPECT_TRUE(valid(compile_ok(R"({"multipleOf": 7})"), "9223372036854775807"));
  EXPECT_FALSE(valid(compile_ok(R"({"multipleOf": 2})"), "18446744073709551615"));
  EXPECT_FALSE(valid(compile_ok(R"({"multipleOf": 0.123456789})"), "1e308"));
  EXPECT_EQ(only_error(check(s, "0.00001")).message, "must be a multiple of 0.0001");
}

TEST(Keywords, RefsDefsAndAnchors) {
  const Schema s = compile_ok(R"({
    "$defs": {"pos": {"type": "integer", "minimum": 1}, "named": {"$anchor": "name", "type": "string"}},
    "properties": {"n": {"$ref": "#/$defs/pos"}, "s": {"$ref": "#name"}}})");
  EXPECT_TRUE(valid(s, R"({"n": 2, "s": "x"})"));
  EXPECT_EQ(only_error(check(s, R"({"n": 0})")).schema_path, "#/$defs/pos/minimum");
  EXPECT_FALSE(valid(s, R"({"s": 1})"));
  // Recursion through the root.
  const Schema tree = compile_ok(
      R"({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}},
                                     "additionalProperties": false})");
  EXPECT_TRUE(valid(tree, R"({"kids": [{"kids": []}, {}]})"));
  EXPECT_EQ(only_error(check(tree, R"({"kids": [{"x": 1}]})")).instance_path, "/kids/0/x");
  // Draft 7: $ref ignores its siblings.
  const Schema d7 = compile_ok(R"({"$schema": "http://json-schema.org/draft-07/schema#",
                                   "definitions": {"s": {"type": "string"}}, "$ref": "#/definitions/s", "minLength": 5})");
  EXPECT_TRUE(valid(d7, R"("ab")"));
  // 2020-12: siblings apply.
  EXPECT_FALSE(valid(
      compile_ok(R"({"$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s", "minLength": 5})"),
      R"("ab")"));
}

TEST(Keywords, RemoteDocumentsAndIdResolution) {
  DocumentMap docs;
  docs.emplace(
      "https://example.com/defs.json",
      core::Json::parse(R"({"$defs": {"id": {"type": "string", "pattern": "^[a-z]+$"}}})"));
  CompileOptions options;
  options.documents = &docs;
  const Schema s = compile_ok(R"({"$id": "https://example.com/root.json",
                                  "properties": {"id": {"$ref": "defs.json#/$defs/id"}}})",
                              options);
  EXPECT_TRUE(valid(s, R"({"id": "abc"})"));
  const ValidationError e = only_error(check(s, R"({"id": "ABC"})"));
  EXPECT_EQ(e.schema_path, "https://example.com/defs.json#/$defs/id/pattern");
  auto missing =
      Schema::compile(core::Json::parse(R"({"$ref": "https://example.com/none.json"})"), options);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(
      missing.status().message().find("cannot resolve reference 'https://example.com/none.json'"),
      std::string::npos)
      << missing.status().message();
}

TEST(Keywords, DynamicRefFollowsTheDynamicScope) {
  // A generic list whose item schema the referring schema supplies.
  DocumentMap docs;
  docs.emplace("https://example.com/list", core::Json::parse(R"({
    "$id": "https://example.com/list", "type": "array", "items": {"$dynamicRef": "#item"},
    "$defs": {"item": {"$dynamicAnchor": "item"}}})"));
  CompileOptions options;
  options.documents = &docs;
  const Schema s = compile_ok(R"({"$id": "https://example.com/ints", "$ref": "list",
                                  "$defs": {"int": {"$dynamicAnchor": "item", "type": "integer"}}})",
                              options);
  EXPECT_TRUE(valid(s, "[1, 2]"));
  EXPECT_FALSE(valid(s, R"([1, "a"])"));
}

TEST(Keywords, UnevaluatedPropertiesAndItems) {
  const Schema s = compile_ok(R"({
    "allOf": [{"properties": {"a": true}}],
    "anyOf": [{"properties": {"b": true}, "required": ["b"]}, {"properties": {"c": true}, "required": ["c"]}],
    "unevaluatedProperties": false})");
  EXPECT_TRUE(valid(s, R"({"a": 1, "b": 2})"));
  EXPECT_TRUE(valid(s, R"({"b": 2, "c": 3})"));
  const ValidationError e = only_error(check(s, R"({"b": 1, "z": 2})"));
  EXPECT_EQ(e.keyword, "unevaluatedProperties");
  EXPECT_EQ(e.instance_path, "/z");
  // Sibling subschemas do not see each other's annotations.
  EXPECT_FALSE(valid(
      compile_ok(R"({"allOf": [{"properties": {"a": true}}, {"unevaluatedProperties": false}]})"),
      R"({"a": 1})"));
  const Schema items = compile_ok(
      R"({"prefixItems": [true], "contains": {"type": "string"}, "unevaluatedItems": false})");
  EXPECT_TRUE(valid(items, R"([1, "x", "y"])"));
  const ValidationError i = only_error(check(items, R"([1, "x", 2])"));
  EXPECT_EQ(i.keyword, "unevaluatedItems");
  EXPECT_EQ(i.instance_path, "/2");
}

TEST(Keywords, BooleanSchemas) {
  EXPECT_TRUE(valid(compile_ok("true"), R"({"anything": 1})"));
  const ValidationError e = only_error(check(compile_ok("false"), "1"));
  EXPECT_EQ(e.keyword, "false");
  EXPECT_EQ(e.schema_path, "#");
  EXPECT_EQ(only_error(check(compile_ok(R"({"properties": {"x": false}})"), R"({"x": 1})")).keyword,
            "properties");
}

TEST(Keywords, FormatIsAnAnnotationUnlessAsserted) {
  const std::string text =
      R"({"properties": {"when": {"format": "date-time"}, "mail": {"format": "email"},
                               "other": {"format": "no-such-format"}}})";
  EXPECT_TRUE(valid(compile_ok(text), R"({"when": "yesterday", "mail": "nope"})"));
  CompileOptions assert_formats;
  assert_formats.format_assertion = true;
  const Schema s = compile_ok(text, assert_formats);
  EXPECT_TRUE(valid(s, R"({"when": "2024-02-29T12:00:00Z", "mail": "a@b.example", "other": "x"})"));
  const ValidationResult r = check(s, R"({"when": "2023-02-29T12:00:00Z", "mail": "nope"})");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].keyword, "format");
  EXPECT_EQ(r.errors[0].message, "is not a valid email");
  EXPECT_EQ(r.errors[1].message, "is not a valid date-time");
  EXPECT_EQ(s.node(s.root()).properties.size(), 3u);
}

TEST(Keywords, UnknownKeywordsAreIgnored) {
  EXPECT_TRUE(
      valid(compile_ok(R"({"x-custom": {"type": "string"}, "examples": [1], "title": "t"})"), "1"));
}

}  // namespace
}  // namespace mlxs::schema
