#pragma once
// Validation against the embedded protocol documents, for every test.

#include <string>

#include <gtest/gtest.h>

#include "protocol/protocol.h"

namespace mlxs::protocol::testing {

inline const SchemaSet& schemas() {
  auto set = SchemaSet::rpc();
  EXPECT_TRUE(set.is_ok()) << set.status().to_string();
  return **set;
}

inline ::testing::AssertionResult valid(const std::string& schema, const core::Json& instance) {
  const schema::Schema* s = schemas().find(schema);
  if (s == nullptr) return ::testing::AssertionFailure() << "no schema " << schema;
  const auto r = s->validate(instance);
  if (r.valid) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << schema << ": " << r.summary() << " in " << dump(instance);
}

}  // namespace mlxs::protocol::testing
