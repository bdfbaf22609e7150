#pragma once
// Everything a request says about how to pick tokens and when to stop, with
// the validation every boundary (HTTP, JSON-RPC, CLI) shares.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace mlxs::engine {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  // Over prompt and output tokens (HF semantics: logit / p if positive, * p if negative).
  float repetition_penalty = 1.0f;
  // Over output tokens only (OpenAI semantics).
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<std::int32_t, float>> logit_bias;
  std::optional<std::uint64_t> seed;
  // Log-probabilities of the chosen token and of the `top_logprobs` best.
  bool logprobs = false;
  int top_logprobs = 0;

  bool greedy() const { return temperature <= 0.0f; }
  bool uses_penalties() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
  }
};

struct StopParams {
  int max_tokens = 256;
  int min_tokens = 0;
  bool ignore_eos = false;
  std::vector<std::string> stop;             // strings, never emitted
  std::vector<std::int32_t> stop_token_ids;  // besides the model's eos ids
};

struct ParamLimits {
  int max_tokens = 1 << 20;
  int max_top_logprobs = 20;
  std::size_t max_stop_strings = 16;
  std::size_t max_stop_length = 256;
  std::size_t max_logit_bias = 1024;
};

// InvalidParams naming the field, e.g. "top_p: must be in (0, 1], got 1.5".
core::Status validate(const SamplingParams& p, std::int64_t vocab, const ParamLimits& limits = {});
core::Status validate(const StopParams& p, std::int64_t vocab, const ParamLimits& limits = {});

}  // namespace mlxs::engine
