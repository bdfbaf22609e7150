#include "core/status.h"

#include <gtest/gtest.h>

namespace mlxs::core {
namespace {

Result<int> half_of(int x) {
  if (x % 2 != 0) return make_error(ErrorCode::kInvalidParams, "{} is odd", x);
  return x / 2;
}

Result<int> quarter_of(int x) {
  MLXS_ASSIGN_OR_RETURN(int h, half_of(x));
  MLXS_ASSIGN_OR_RETURN(int q, half_of(h));
  return q;
}

TEST(Status, OkAndError) {
  EXPECT_TRUE(Status::ok().is_ok());
  const Status s(ErrorCode::kModelLoadError, "model.safetensors: truncated");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.to_string(), "ModelLoadError: model.safetensors: truncated");
  EXPECT_EQ(s.with_context("loading").message(), "loading: model.safetensors: truncated");
  EXPECT_EQ(s.with_context("loading").code(), ErrorCode::kModelLoadError);
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(*quarter_of(8), 2);
  const auto r = quarter_of(6);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidParams);
  EXPECT_EQ(r.status().message(), "3 is odd");
}

TEST(ErrorCode, NamesRoundTripAndAreUnique) {
  std::set<std::string> names;
  for (int i = 0; i < kErrorCodeCount; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    const auto name = std::string(error_code_name(code));
    EXPECT_NE(name, "Unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(error_code_from_name(name), code);
  }
  EXPECT_FALSE(error_code_from_name("NoSuchCode").has_value());
  // The original's names are kept exactly (../shared/compat/errors.md).
  EXPECT_EQ(error_code_name(ErrorCode::kModelNotLoaded), "ModelNotLoaded");
  EXPECT_EQ(error_code_name(ErrorCode::kGuidanceError), "GuidanceError");
}

}  // namespace
}  // namespace mlxs::core
