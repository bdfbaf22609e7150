#pragma once
// Turns one row of logits into a token: logit bias, penalties, temperature,
// top-k / top-p / min-p, and a seeded draw from the sequence's own generator,
// so a seeded request gives the same tokens whatever else is in the batch.
// Scratch is sized once per sampler; sampling allocates nothing.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"
#include "engine/sampling_params.h"

namespace mlxs::engine {

struct TokenLogprob {
  std::int32_t token = 0;
  float logprob = 0.0f;
};

inline constexpr int kMaxTopLogprobs = 20;

struct SampleOutput {
  std::int32_t token = 0;
  // Log-probability under the model's raw distribution (log-softmax of the
  // logits before bias, penalties and temperature), as OpenAI reports it.
  float logprob = 0.0f;
  int top_count = 0;
  std::array<TokenLogprob, kMaxTopLogprobs> top{};
};

class Sampler {
 public:
  explicit Sampler(std::int64_t vocab);

  // `logits` is modified in place. `prompt` and `output` are the sequence's
  // tokens so far (penalties read them).
  SampleOutput sample(std::span<float> logits, const SamplingParams& params,
                      std::span<const std::int32_t> prompt, std::span<const std::int32_t> output,
                      core::Xoshiro256& rng);

 private:
  void apply_penalties(std::span<float> logits, const SamplingParams& p,
                       std::span<const std::int32_t> prompt, std::span<const std::int32_t> output);
  std::vector<std::int32_t> order_;
  std::vector<std::int32_t> counts_;
  std::vector<float> weights_;
  std::vector<std::int32_t> heap_;  // top-k selection
  std::vector<float> raw_;          // the unprocessed row, when logprobs are asked for
};

}  // namespace mlxs::engine
