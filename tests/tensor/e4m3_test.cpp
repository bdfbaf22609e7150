// f32 -> e4m3 against its definition: the nearest of the 127 non-negative
// e4m3 values (ties to the even code), saturating at 448, NaN to 0x7F, the
// sign carried over. A sweep over float bit patterns from the subnormals to
// past 448, the exact midpoints between neighbouring codes, and the
// specials; and every code converts back to itself.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tensor/quant.h"

namespace mlxs::tensor {
namespace {

// The value of a non-negative code, from the format's definition.
double e4m3_value(int code) {
  const int e = code >> 3, m = code & 7;
  return e == 0 ? m * std::ldexp(1.0, -9) : (1.0 + m / 8.0) * std::ldexp(1.0, e - 7);
}

std::uint8_t nearest_code(float v) {
  static const auto values = [] {
    std::array<double, 0x7F> out{};
    for (int c = 0; c <= 0x7E; ++c) out[static_cast<std::size_t>(c)] = e4m3_value(c);
    return out;
  }();
  if (std::isnan(v)) return 0x7F;
  const std::uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  const double a = std::min(std::fabs(static_cast<double>(v)), 448.0);
  int best = 0;
  for (int c = 1; c <= 0x7E; ++c) {
    const double d = std::fabs(values[static_cast<std::size_t>(c)] - a);
    const double b = std::fabs(values[static_cast<std::size_t>(best)] - a);
    if (d < b || (d == b && (c & 1) == 0)) best = c;
  }
  return static_cast<std::uint8_t>(sign | best);
}

TEST(E4m3, EveryFloatRoundsToTheNearestCodeTiesToEven) {
  // Every 1021st bit pattern from 2^-12 to past 448, both signs.
  const std::uint32_t lo = std::bit_cast<std::uint32_t>(0x1p-12f);
  const std::uint32_t hi = std::bit_cast<std::uint32_t>(600.0f);
  int checked = 0;
  for (std::uint32_t b = lo; b < hi; b += 1021) {
    for (float v : {std::bit_cast<float>(b), -std::bit_cast<float>(b)}) {
      ASSERT_EQ(f32_to_e4m3(v), nearest_code(v)) << v;
      ++checked;
    }
  }
  EXPECT_GT(checked, 300000);
}

TEST(E4m3, MidpointsCodesAndSpecials) {
  for (int c = 0; c < 0x7E; ++c) {
    const double mid = (e4m3_value(c) + e4m3_value(c + 1)) / 2;
    const auto f = static_cast<float>(mid);  // exact: a few significant bits
    ASSERT_EQ(f32_to_e4m3(f), nearest_code(f)) << "midpoint after code " << c;
    ASSERT_EQ(f32_to_e4m3(static_cast<float>(e4m3_value(c))), c) << "code " << c;
    ASSERT_EQ(f32_to_e4m3(-static_cast<float>(e4m3_value(c))), 0x80 | c) << "code " << c;
  }
  EXPECT_EQ(f32_to_e4m3(448.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(470.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(-1e30f), 0xFE);
  EXPECT_EQ(f32_to_e4m3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(f32_to_e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(f32_to_e4m3(0.0f), 0x00);
  EXPECT_EQ(f32_to_e4m3(-0.0f), 0x80);
  EXPECT_EQ(f32_to_e4m3(1e-30f), 0x00);
  for (int c = 0; c <= 0x7E; ++c)
    EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(static_cast<std::uint8_t>(c))), c);
}

}  // namespace
}  // namespace mlxs::tensor
