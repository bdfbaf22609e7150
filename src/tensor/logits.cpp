#include "tensor/logits.h"

#include <bit>
#include <limits>

namespace mlxs::tensor {

std::size_t apply_allowed_mask(std::span<float> logits, std::span<const std::uint32_t> allowed) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::size_t count = 0;
  const std::size_t n = logits.size();
  for (std::size_t base = 0; base < n; base += 32) {
    const std::size_t w = base >> 5;
    const std::uint32_t word = w < allowed.size() ? allowed[w] : 0u;
    const std::size_t len = n - base < 32 ? n - base : 32;
    if (word == 0xffffffffu && len == 32) {
      count += 32;  // the common case in free text: nothing to clear
      continue;
    }
    for (std::size_t i = 0; i < len; ++i) {
      if (((word >> i) & 1u) != 0) {
        ++count;
      } else {
        logits[base + i] = kNegInf;
      }
    }
  }
  return count;
}

std::size_t count_allowed(std::span<const std::uint32_t> allowed, std::size_t vocab) {
  std::size_t count = 0;
  for (std::size_t w = 0; w < allowed.size() && w * 32 < vocab; ++w) {
    std::uint32_t word = allowed[w];
    const std::size_t left = vocab - w * 32;
    if (left < 32) word &= (1u << left) - 1u;
    count += static_cast<std::size_t>(std::popcount(word));
  }
  return count;
}

std::int32_t first_argmax(std::span<const float> logits) {
  std::size_t best = 0;
  float best_value = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_value) {
      best = i;
      best_value = logits[i];
    }
  }
  return static_cast<std::int32_t>(best);
}

}  // namespace mlxs::tensor
