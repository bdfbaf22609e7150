// The module's API: compile errors name the schema path, results and
// summaries, options, the inspectable node graph, concurrent validation.

#include "schema/schema.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace mlxs::schema {
namespace {

using test::compile_error;
using test::compile_ok;
using test::valid;

TEST(Compile, BadSchemasNameTheirPath) {
  struct Case {
    const char* schema;
    const char* where;
  };
  const Case cases[] = {
      {R"({"type": "integr"})", "#/type"},
      {R"({"properties": {"a": {"minLength": -1}}})", "#/properties/a/minLength"},
      {R"({"properties": {"a": 5}})", "#/properties"},
      {R"({"items": {"pattern": "(unclosed"}})", "#/items/pattern"},
      {R"({"patternProperties": {"[z-a]": true}})", "#/patternProperties"},
      {R"({"required": "name"})", "#/required"},
      {R"({"anyOf": []})", "#/anyOf"},
      {R"({"allOf": [{"maxItems": 1.5}]})", "#/allOf/0/maxItems"},
      {R"({"multipleOf": 0})", "#/multipleOf"},
      {R"({"enum": 3})", "#/enum"},
      {R"({"$ref": "#/$defs/missing"})", "#/$ref"},
      {R"({"$ref": "#nowhere"})", "#/$ref"},
      {R"({"$ref": 7})", "#/$ref"},
      {R"({"not": [true]})", "#/not"},
      {"3", "#"},
  };
  for (const Case& c : cases) {
    const core::Status st = compile_error(c.schema);
    EXPECT_EQ(st.code(), core::ErrorCode::kInvalidParams) << c.schema;
    EXPECT_NE(st.message().find(std::string("schema ") + c.where + ":"), std::string::npos)
        << c.schema << " -> " << st.message();
  }
}

TEST(Compile, ErrorCodeIsTheCallersChoice) {
  CompileOptions options;
  options.error_code = core::ErrorCode::kConfigError;
  EXPECT_EQ(compile_error(R"({"type": 1})", options).code(), core::ErrorCode::kConfigError);
}

TEST(Compile, DraftComesFromDollarSchemaOrTheDefault) {
  const std::string tuple = R"({"items": [{"type": "string"}], "additionalItems": false})";
  // 2020-12 by default, where the array form of items is read as a tuple for
  // older documents, so both agree here.
  EXPECT_FALSE(valid(compile_ok(tuple), R"(["a", 1])"));
  CompileOptions d7;
  d7.default_draft = Draft::kDraft7;
  const Schema s = compile_ok(tuple, d7);
  EXPECT_EQ(s.node(s.root()).draft, Draft::kDraft7);
  EXPECT_FALSE(valid(s, R"(["a", 1])"));
  // $schema wins over the default.
  const Schema t = compile_ok(
      R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "prefixItems": [true]})", d7);
  EXPECT_EQ(t.node(t.root()).draft, Draft::kDraft2020_12);
  // An unknown $schema keeps the default (lenient).
  EXPECT_TRUE(
      Schema::compile(core::Json::parse(R"({"$schema": "https://example.com/custom"})")).is_ok());
}

TEST(Compile, MetaSchemasAreBuiltIn) {
  const Schema meta = compile_ok(R"({"$ref": "https://json-schema.org/draft/2020-12/schema"})");
  EXPECT_TRUE(valid(meta, R"({"type": "object", "properties": {"a": {"minLength": 1}}})"));
  EXPECT_FALSE(valid(meta, R"({"properties": {"a": {"minLength": -1}}})"));
  const Schema meta7 = compile_ok(R"({"$ref": "http://json-schema.org/draft-07/schema#"})");
  EXPECT_FALSE(valid(meta7, R"({"type": "strin"})"));
}

TEST(Result, SummaryAndStatus) {
  const Schema s = compile_ok(R"({"type": "string"})");
  const ValidationResult ok = s.validate(core::Json("x"));
  EXPECT_TRUE(ok.valid);
  EXPECT_EQ(ok.summary(), "valid");
  EXPECT_TRUE(ok.to_status().is_ok());
  const ValidationResult bad = s.validate(core::Json(1));
  EXPECT_EQ(bad.summary(), "1 error: (root): expected string, got integer");
  const core::Status st = bad.to_status();
  EXPECT_EQ(st.code(), core::ErrorCode::kInvalidParams);
  EXPECT_EQ(st.message(), bad.summary());
  EXPECT_EQ(bad.to_status(core::ErrorCode::kConfigError).code(), core::ErrorCode::kConfigError);
}

TEST(Result, ErrorsAreCappedAndMessagesStayOnOneLine) {
  CompileOptions options;
  options.max_errors = 5;
  const Schema s = compile_ok(R"({"items": {"type": "string"}})", options);
  core::Json many = core::Json::array();
  for (int i = 0; i < 50; ++i) many.push_back(i);
  const ValidationResult r = s.validate(many);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.errors.size(), 5u);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.summary().rfind("more than 5 errors: ", 0), 0u) << r.summary();

  options.max_errors = 0;  // still one error: an invalid result always says why
  const ValidationResult one =
      compile_ok(R"({"items": {"type": "string"}})", options).validate(many);
  EXPECT_EQ(one.errors.size(), 1u);

  const Schema nl = compile_ok(R"({"pattern": "^a\nb$"})");
  const ValidationResult e = nl.validate(core::Json("x"));
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_EQ(e.errors[0].message.find('\n'), std::string::npos);
  EXPECT_EQ(e.summary().find('\n'), std::string::npos);
}

TEST(Graph, NodesAreInspectable) {
  const Schema s = compile_ok(R"({
    "title": "Request", "type": "object", "required": ["model"],
    "properties": {"model": {"type": "string", "enum": ["a", "b"]},
                   "n": {"type": "integer", "minimum": 1, "default": 1},
                   "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}}},
    "$defs": {"tag": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8}}})");
  const Node& root = s.node(s.root());
  EXPECT_EQ(root.title, "Request");
  EXPECT_EQ(root.types, kTypeObject);
  EXPECT_EQ(root.required, std::vector<std::string>{"model"});
  ASSERT_EQ(root.properties.size(), 3u);
  EXPECT_EQ(root.properties[0].first, "model");  // sorted by name
  const Node& model = s.node(root.properties[0].second);
  ASSERT_TRUE(model.enum_values.has_value());
  EXPECT_EQ(model.enum_values->size(), 2u);
  const Node& n = s.node(root.properties[1].second);
  EXPECT_EQ(n.default_value, core::Json(1));
  const Node& tags = s.node(root.properties[2].second);
  ASSERT_NE(tags.items, kNoNode);
  const Node& ref = s.node(tags.items);
  ASSERT_NE(ref.ref, kNoNode);
  const Node& tag = s.node(ref.ref);
  EXPECT_EQ(tag.location, "#/$defs/tag");
  ASSERT_TRUE(tag.pattern.has_value());
  EXPECT_EQ(tag.pattern->pattern(), "^[a-z]+$");
  EXPECT_EQ(tag.max_length, 8u);
}

TEST(Concurrency, OneSchemaManyThreads) {
  const Schema s = compile_ok(
      R"({"type": "object", "properties": {"id": {"type": "string", "pattern": "^[a-z]+[0-9]*$"},
                                  "n": {"type": "integer", "multipleOf": 3}}, "required": ["id"],
                                  "unevaluatedProperties": false})");
  const core::Json good = core::Json::parse(R"({"id": "abc12", "n": 9})");
  const core::Json bad = core::Json::parse(R"({"id": "ABC", "n": 10, "x": 1})");
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const Schema copy = s;  // copies share the compiled graph
      for (int i = 0; i < 300; ++i) {
        if (!copy.validate(good).valid) ++failures[static_cast<std::size_t>(t)];
        if (copy.validate(bad).errors.size() != 3) ++failures[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
}  // namespace mlxs::schema
