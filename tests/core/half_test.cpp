#include "core/half.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "core/rng.h"

namespace mlxs::core {
namespace {

TEST(Half, Bf16RoundTripsAndRoundsToNearestEven) {
  for (float v : {0.0f, 1.0f, -2.5f, 3.140625f, 0x1p100f, -0x1p-100f}) {
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(v)), v) << v;  // all exactly representable
  }
  // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256.0f)), 1.0f);
  // 1 + 3 * 2^-8 is halfway too: even neighbour is 1 + 2^-6.
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256.0f)), 1.0f + 1.0f / 64.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Half, F16MatchesIeeeForEveryBitPattern) {
  int checked = 0;
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float f = f16_to_f32(h);
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), h) << bits;
    ++checked;
  }
  EXPECT_GT(checked, 63000);
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7c00);  // overflow to +inf
}

TEST(Half, F16RoundingIsNearest) {
  Xoshiro256 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const float v = (rng.uniform() - 0.5f) * 100.0f;
    const float r = f16_to_f32(f32_to_f16(v));
    EXPECT_LE(std::fabs(r - v), std::fabs(v) * (1.0f / 2048.0f) + 1e-7f) << v;
  }
}

}  // namespace
}  // namespace mlxs::core
