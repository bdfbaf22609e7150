#include "core/json_util.h"

#include <gtest/gtest.h>

namespace mlxs::core {
namespace {

TEST(JsonUtil, ParseErrorsNameTheDocumentAndOffset) {
  const auto r = parse_json("{\"a\": [1, 2,", "config.json", ErrorCode::kModelLoadError);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kModelLoadError);
  EXPECT_NE(r.status().message().find("config.json: invalid JSON at byte"), std::string::npos);
}

TEST(JsonUtil, RejectsDeepNestingWithoutRecursing) {
  const std::string deep(100000, '[');
  const auto r = parse_json(deep, "doc", ErrorCode::kInvalidParams);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("nested deeper"), std::string::npos);
  EXPECT_EQ(json_nesting_depth(R"({"a": "[[[[", "b": [{"c": 1}]})"), 3);
  EXPECT_EQ(json_nesting_depth(R"(["\"[[["])"), 1);
}

TEST(JsonUtil, TypedGettersReportPaths) {
  const Json doc = Json::parse(R"({"n": 3, "f": 2.0, "g": 2.5, "s": "x", "b": true, "z": null})");
  EXPECT_EQ(*get_int(doc, "n", "cfg", ErrorCode::kConfigError).value(), 3);
  EXPECT_EQ(*get_int(doc, "f", "cfg", ErrorCode::kConfigError).value(), 2);
  EXPECT_FALSE(get_int(doc, "missing", "cfg", ErrorCode::kConfigError).value().has_value());
  EXPECT_FALSE(get_int(doc, "z", "cfg", ErrorCode::kConfigError).value().has_value());
  const auto bad = get_int(doc, "g", "cfg", ErrorCode::kConfigError);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().message(), "cfg.g: expected an integer, got 2.5");
  EXPECT_FALSE(get_string(doc, "n", "cfg", ErrorCode::kConfigError).is_ok());
  EXPECT_FALSE(get_bool(doc, "s", "cfg", ErrorCode::kConfigError).is_ok());
  EXPECT_EQ(*get_number(doc, "n", "cfg", ErrorCode::kConfigError).value(), 3.0);
}

TEST(JsonUtil, ReadFileEnforcesTheSizeLimit) {
  const auto r = read_file("/proc/self/exe", "exe", 16);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("more than the limit"), std::string::npos);
  const auto missing = read_file("/nonexistent/x.json", "x.json", 1024);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "x.json: file not found");
}

}  // namespace
}  // namespace mlxs::core
