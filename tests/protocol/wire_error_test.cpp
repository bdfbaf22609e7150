// The wire table: one row per ErrorCode in order; a client's own mistakes
// stay inside -32602..-32600 (exempt from the original client's breaker),
// server-side conditions stay outside it.
#include <set>

#include <gtest/gtest.h>

#include "test_util.h"

namespace mlxs::protocol {
namespace {

using core::ErrorCode;

TEST(WireError, OneRowPerCodeInOrder) {
  const auto table = wire_table();
  ASSERT_EQ(table.size(), static_cast<std::size_t>(core::kErrorCodeCount));
  for (int i = 0; i < core::kErrorCodeCount; ++i) {
    EXPECT_EQ(table[static_cast<std::size_t>(i)].code, static_cast<ErrorCode>(i)) << i;
  }
}

TEST(WireError, BreakerExemptionFollowsFault) {
  for (const WireCode& row : wire_table()) {
    // -32700 is the original's number for an unreadable frame, kept as is.
    if (row.code == ErrorCode::kOk || row.code == ErrorCode::kParseError) continue;
    const bool exempt = row.number >= -32602 && row.number <= -32600;
    EXPECT_EQ(exempt, row.fault == Fault::kClient)
        << core::error_code_name(row.code) << " " << row.number;
  }
}

TEST(WireError, OriginalNumbers) {
  EXPECT_EQ(wire_code(ErrorCode::kParseError).number, -32700);
  EXPECT_EQ(wire_code(ErrorCode::kInvalidRequest).number, -32600);
  EXPECT_EQ(wire_code(ErrorCode::kMethodNotFound).number, -32602)
      << "the original never sends -32601";
  EXPECT_EQ(wire_code(ErrorCode::kInvalidParams).number, -32602);
  EXPECT_EQ(wire_code(ErrorCode::kModelLoadError).number, -32001);
  EXPECT_EQ(wire_code(ErrorCode::kGenerationError).number, -32002);
  EXPECT_EQ(wire_code(ErrorCode::kTokenizerError).number, -32003);
  EXPECT_EQ(wire_code(ErrorCode::kModelNotLoaded).number, -32005);
  EXPECT_EQ(wire_code(ErrorCode::kRuntimeError).number, -32099);
  for (ErrorCode c : {ErrorCode::kUnsupported, ErrorCode::kTemplateError, ErrorCode::kConfigError,
                      ErrorCode::kGuidanceError, ErrorCode::kNotFound}) {
    EXPECT_EQ(wire_code(c).number, -32602) << core::error_code_name(c);
  }
}

TEST(WireError, OursCountDownFromMinus32010AndAreDistinct) {
  std::set<int> ours;
  for (ErrorCode c : {ErrorCode::kQueueFull, ErrorCode::kTimeout, ErrorCode::kCancelled,
                      ErrorCode::kWorkerCrashed, ErrorCode::kBackpressureExceeded,
                      ErrorCode::kTransportError, ErrorCode::kIoError}) {
    const int n = wire_code(c).number;
    EXPECT_LE(n, -32010);
    EXPECT_GT(n, -32099);
    EXPECT_TRUE(ours.insert(n).second) << n;
  }
  EXPECT_EQ(wire_code(ErrorCode::kQueueFull).number, -32010);
}

TEST(WireError, ErrorObjectsCarryOurCodeAndHideInternals) {
  auto e = make_error_object(core::Status(ErrorCode::kUnsupported, "vision is not supported"));
  EXPECT_EQ(e.code, -32602);
  EXPECT_EQ(e.data["type"], "ValidationError");
  EXPECT_EQ(e.data["code"], "Unsupported");
  EXPECT_EQ(error_code_of(e), ErrorCode::kUnsupported);

  e = make_error_object(core::Status(ErrorCode::kInternalError, "at /home/x/src/file.cpp:12"));
  EXPECT_EQ(e.code, -32099);
  EXPECT_EQ(e.message, "An unexpected internal error occurred");
  EXPECT_EQ(e.data["type"], "InternalError");

  e = make_error_object(core::Status(ErrorCode::kModelLoadError, "Failed to load model m: x"), "m");
  EXPECT_EQ(e.data["model_id"], "m");
  ErrorObject bare{-32005, "Model not loaded: m", nullptr};
  EXPECT_EQ(error_code_of(bare), ErrorCode::kModelNotLoaded);
  bare.code = -31000;
  EXPECT_EQ(error_code_of(bare), ErrorCode::kRuntimeError);
  bare.code = -32099;
  EXPECT_EQ(error_code_of(bare), ErrorCode::kRuntimeError);
}

}  // namespace
}  // namespace mlxs::protocol
