#pragma once
// Host reference forms of the two things a step does to its logits before
// sampling: keep only the tokens an allowed-token bitmask names, and find the
// greedy token. Backends use them on host rows; devices must agree exactly
// (same tie rule), so greedy outputs do not depend on where they were chosen.

#include <cstddef>
#include <cstdint>
#include <span>

namespace mlxs::tensor {

// Sets to -infinity the logits whose bit in `allowed` is clear (bit i of
// word i / 32 is token i; tokens past the mask are cleared). Returns how many
// stay allowed.
std::size_t apply_allowed_mask(std::span<float> logits, std::span<const std::uint32_t> allowed);

// How many tokens below `vocab` the mask allows.
std::size_t count_allowed(std::span<const std::uint32_t> allowed, std::size_t vocab);

// The first index of the largest logit; NaN never wins; 0 when nothing
// compares greater than -infinity.
std::int32_t first_argmax(std::span<const float> logits);

}  // namespace mlxs::tensor
