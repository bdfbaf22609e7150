#include "tensor/logits.h"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace mlxs::tensor {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(Logits, MaskClearsEveryTokenWhoseBitIsClear) {
  // 70 tokens: a full word, a partial word and a tail past a short mask.
  std::vector<float> row(70, 1.0f);
  std::vector<std::uint32_t> allowed = {0xffffffffu, 1u << 1, 1u << 4};
  EXPECT_EQ(apply_allowed_mask(row, allowed), 34u);
  for (std::size_t i = 0; i < row.size(); ++i) {
    const bool kept = i < 32 || i == 33 || i == 68;
    EXPECT_EQ(row[i], kept ? 1.0f : -kInf) << i;
  }
  EXPECT_EQ(count_allowed(allowed, 70), 34u);
  // Bits past the vocabulary do not count; words past the mask allow nothing.
  EXPECT_EQ(count_allowed(allowed, 40), 33u);
  std::vector<float> tail(70, 1.0f);
  EXPECT_EQ(apply_allowed_mask(tail, std::span<const std::uint32_t>(allowed).first(1)), 32u);
  EXPECT_EQ(tail[40], -kInf);
}

TEST(Logits, ArgmaxTakesTheFirstMaximumAndNeverNaN) {
  EXPECT_EQ(first_argmax(std::vector<float>{1, 3, 2, 3}), 1);
  EXPECT_EQ(first_argmax(std::vector<float>{NAN, -5, 7, NAN, 7}), 2);
  EXPECT_EQ(first_argmax(std::vector<float>{-kInf, -kInf, -kInf}), 0);
  EXPECT_EQ(first_argmax(std::vector<float>{NAN, NAN}), 0);
  EXPECT_EQ(first_argmax(std::vector<float>{-kInf, -1e30f, -kInf}), 1);
  EXPECT_EQ(first_argmax(std::vector<float>{}), 0);
}

}  // namespace
}  // namespace mlxs::tensor
