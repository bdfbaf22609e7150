#pragma once
// The candidates that min_p, top_k and top_p keep are always a prefix of one
// total order of the vocabulary: higher logit first, then lower id. So one
// element of that order, the cutoff, says which tokens a filter keeps, and
// the filters compose by tightening it. The draw then walks the kept tokens
// in id order. The CUDA sampler implements the same definitions, so a row
// sampled on the host or on a device keeps the same tokens and, fed the same
// uniform number, draws the same one (up to the rounding of sums).
//
// Every function here is O(vocabulary) with a few passes and no allocation
// beyond the scratch the caller owns.

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace mlxs::engine {

struct Cutoff {
  // The initial cutoff keeps every finite logit (-inf is never a candidate).
  float value = -std::numeric_limits<float>::infinity();
  std::int32_t index = -1;
  bool keeps(float logit, std::int32_t id) const {
    // Branch-free, so the loops over it vectorize.
    return (logit > value) | ((logit == value) & (id <= index));
  }
};

// e^x for x <= 0 in float, written so that loops over it vectorize; 0 below
// -87 (and for -inf, NaN), relative error below 1e-6 above.
inline float exp_nonpositive(float x) {
  const bool tiny = !(x >= -87.0f);  // NaN and -inf too
  x = tiny ? -87.0f : x;
  // x = n ln2 + f with ln2 in two parts (Cody and Waite), so f keeps its
  // precision however large n is; |f| <= ln2 / 2.
  // Round to nearest by the 1.5 * 2^23 trick: no floor() call, so loops
  // vectorize on any x86-64.
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float f = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.0f / 720.0f;
  p = p * f + 1.0f / 120.0f;
  p = p * f + 1.0f / 24.0f;
  p = p * f + 1.0f / 6.0f;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const auto bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  return tiny ? 0.0f : p * std::bit_cast<float>(bits);
}

// The k-th kept token in the order (k >= 1), or `current` when it keeps k
// or fewer. `heap` is scratch.
Cutoff top_k_cutoff(std::span<const float> logits, Cutoff current, std::size_t k,
                    std::vector<std::int32_t>& heap);

// The k best kept tokens in the order, best first, into `out` (k entries at
// most; returns how many).
std::size_t best_k(std::span<const float> logits, Cutoff current, std::size_t k,
                   std::vector<std::int32_t>& heap, std::span<std::int32_t> out);

// Multiplies every logit by `scale` and returns the largest (NaN ignored).
float scale_and_max(std::span<float> logits, float scale);

// Weights w[i] = e^(logit[i] - max) of the tokens `current` keeps (0 for the
// others); returns their sum.
double fill_weights(std::span<const float> logits, float max_logit, Cutoff current,
                    std::span<float> w);

// The nucleus: the shortest prefix of the kept tokens whose weights reach
// `mass` of `total`. `members` is scratch of the vocabulary's size.
Cutoff top_p_cutoff(std::span<const float> logits, std::span<const float> w, float max_logit,
                    double total, float mass, Cutoff current, std::span<std::int32_t> members);

// Walks the kept tokens in id order and returns the one where the running
// sum of weights passes u * (their sum), u in [0, 1).
std::int32_t draw(std::span<const float> logits, std::span<const float> w, Cutoff current,
                  double u);

}  // namespace mlxs::engine
