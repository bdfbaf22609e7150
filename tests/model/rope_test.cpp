#include "model/rope.h"

#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

namespace mlxs::model {
namespace {

TEST(Rope, DefaultAndLinear) {
  RopeParams p;
  p.theta = 10000.0;
  auto spec = compute_rope(p, 16, 1024);
  ASSERT_EQ(spec.inv_freq.size(), 8u);
  EXPECT_EQ(spec.rot_dim, 16);
  for (int i = 0; i < 8; ++i)
    EXPECT_DOUBLE_EQ(spec.inv_freq[static_cast<std::size_t>(i)], std::pow(10000.0, -2.0 * i / 16));
  p.type = RopeType::kLinear;
  p.factor = 8.0;
  auto lin = compute_rope(p, 16, 1024);
  for (int i = 0; i < 8; ++i)
    EXPECT_DOUBLE_EQ(lin.inv_freq[static_cast<std::size_t>(i)],
                     spec.inv_freq[static_cast<std::size_t>(i)] / 8.0);
  p.type = RopeType::kDefault;
  p.partial_rotary_factor = 0.5;
  EXPECT_EQ(compute_rope(p, 16, 1024).rot_dim, 8);
}

TEST(Rope, Llama3KeepsHighFrequenciesAndDividesLowOnes) {
  RopeParams p;
  p.type = RopeType::kLlama3;
  p.theta = 500000.0;
  p.factor = 8.0;
  p.low_freq_factor = 1.0;
  p.high_freq_factor = 4.0;
  p.original_max_position_embeddings = 64;
  RopeParams base = p;
  base.type = RopeType::kDefault;
  const auto plain = compute_rope(base, 16, 1024);
  const auto scaled = compute_rope(p, 16, 1024);
  int kept = 0, divided = 0, smoothed = 0;
  for (std::size_t i = 0; i < plain.inv_freq.size(); ++i) {
    const double wavelen = 2 * std::numbers::pi / plain.inv_freq[i];
    if (wavelen < 64.0 / 4.0) {
      EXPECT_DOUBLE_EQ(scaled.inv_freq[i], plain.inv_freq[i]);
      ++kept;
    } else if (wavelen > 64.0) {
      EXPECT_DOUBLE_EQ(scaled.inv_freq[i], plain.inv_freq[i] / 8.0);
      ++divided;
    } else {
      EXPECT_LT(scaled.inv_freq[i], plain.inv_freq[i]);
      EXPECT_GT(scaled.inv_freq[i], plain.inv_freq[i] / 8.0);
      ++smoothed;
    }
  }
  // The fixture's README: one kept, one smoothed, six divided by 8.
  EXPECT_EQ(kept, 1);
  EXPECT_EQ(smoothed, 1);
  EXPECT_EQ(divided, 6);
}

TEST(Rope, YarnInterpolatesLowFrequenciesAndScalesAttention) {
  RopeParams p;
  p.type = RopeType::kYarn;
  p.theta = 1e6;
  p.factor = 4.0;
  p.original_max_position_embeddings = 32768;
  const auto spec = compute_rope(p, 128, 131072);
  RopeParams base = p;
  base.type = RopeType::kDefault;
  const auto plain = compute_rope(base, 128, 131072);
  EXPECT_DOUBLE_EQ(spec.inv_freq.front(), plain.inv_freq.front());
  EXPECT_NEAR(spec.inv_freq.back(), plain.inv_freq.back() / 4.0, 1e-15);
  EXPECT_NEAR(spec.attention_factor, 0.1 * std::log(4.0) + 1.0, 1e-12);
  for (std::size_t i = 1; i < spec.inv_freq.size(); ++i)
    EXPECT_LT(spec.inv_freq[i], spec.inv_freq[i - 1]);
}

}  // namespace
}  // namespace mlxs::model
