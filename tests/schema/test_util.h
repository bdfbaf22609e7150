#pragma once
// Helpers for the schema tests: compile from JSON text, find errors.

#include <string>

#include <gtest/gtest.h>

#include "schema/schema.h"

namespace mlxs::schema::test {

inline Schema compile_ok(const std::string& text, const CompileOptions& options = {}) {
  auto schema = Schema::compile(core::Json::parse(text), options);
  EXPECT_TRUE(schema.is_ok()) << text << ": " << schema.status().to_string();
  if (!schema.is_ok()) return Schema::compile(core::Json(true)).value();
  return std::move(schema).value();
}

inline core::Status compile_error(const std::string& text, const CompileOptions& options = {}) {
  auto schema = Schema::compile(core::Json::parse(text), options);
  EXPECT_FALSE(schema.is_ok()) << text << " compiled";
  return schema.status();
}

inline ValidationResult check(const Schema& schema, const std::string& instance) {
  ValidationResult r = schema.validate(core::Json::parse(instance));
  EXPECT_EQ(r.valid, schema.is_valid(core::Json::parse(instance))) << instance;
  EXPECT_EQ(r.valid, r.errors.empty()) << instance;
  return r;
}

inline bool valid(const Schema& schema, const std::string& instance) {
  return check(schema, instance).valid;
}

// The one error of `r`, or a failure.
inline ValidationError only_error(const ValidationResult& r) {
  EXPECT_EQ(r.errors.size(), 1u) << r.summary();
  return r.errors.empty() ? ValidationError{} : r.errors[0];
}

}  // namespace mlxs::schema::test
