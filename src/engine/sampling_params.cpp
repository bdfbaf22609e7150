#include "engine/sampling_params.h"

#include <cmath>

namespace mlxs::engine {
namespace {

using core::ErrorCode;
using core::make_error;
using core::Status;

bool finite(float v) {
  return std::isfinite(v);
}

}  // namespace

Status validate(const SamplingParams& p, std::int64_t vocab, const ParamLimits& limits) {
  if (!finite(p.temperature) || p.temperature < 0.0f || p.temperature > 100.0f) {
    return make_error(ErrorCode::kInvalidParams, "temperature: must be in [0, 100], got {}",
                      p.temperature);
  }
  if (p.top_k < 0)
    return make_error(ErrorCode::kInvalidParams, "top_k: must be >= 0, got {}", p.top_k);
  if (!finite(p.top_p) || p.top_p <= 0.0f || p.top_p > 1.0f) {
    return make_error(ErrorCode::kInvalidParams, "top_p: must be in (0, 1], got {}", p.top_p);
  }
  if (!finite(p.min_p) || p.min_p < 0.0f || p.min_p > 1.0f) {
    return make_error(ErrorCode::kInvalidParams, "min_p: must be in [0, 1], got {}", p.min_p);
  }
  if (!finite(p.repetition_penalty) || p.repetition_penalty <= 0.0f ||
      p.repetition_penalty > 10.0f) {
    return make_error(ErrorCode::kInvalidParams, "repetition_penalty: must be in (0, 10], got {}",
                      p.repetition_penalty);
  }
  if (!finite(p.presence_penalty) || std::fabs(p.presence_penalty) > 2.0f) {
    return make_error(ErrorCode::kInvalidParams, "presence_penalty: must be in [-2, 2], got {}",
                      p.presence_penalty);
  }
  if (!finite(p.frequency_penalty) || std::fabs(p.frequency_penalty) > 2.0f) {
    return make_error(ErrorCode::kInvalidParams, "frequency_penalty: must be in [-2, 2], got {}",
                      p.frequency_penalty);
  }
  if (p.logit_bias.size() > limits.max_logit_bias) {
    return make_error(ErrorCode::kInvalidParams, "logit_bias: at most {} entries",
                      limits.max_logit_bias);
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab) {
      return make_error(ErrorCode::kInvalidParams,
                        "logit_bias: token id {} is not in the vocabulary", id);
    }
    if (!finite(bias) || std::fabs(bias) > 100.0f) {
      return make_error(ErrorCode::kInvalidParams, "logit_bias: bias for {} must be in [-100, 100]",
                        id);
    }
  }
  if (p.top_logprobs < 0 || p.top_logprobs > limits.max_top_logprobs) {
    return make_error(ErrorCode::kInvalidParams, "top_logprobs: must be in [0, {}], got {}",
                      limits.max_top_logprobs, p.top_logprobs);
  }
  return Status::ok();
}

Status validate(const StopParams& p, std::int64_t vocab, const ParamLimits& limits) {
  if (p.max_tokens < 1 || p.max_tokens > limits.max_tokens) {
    return make_error(ErrorCode::kInvalidParams, "max_tokens: must be in [1, {}], got {}",
                      limits.max_tokens, p.max_tokens);
  }
  if (p.min_tokens < 0 || p.min_tokens > p.max_tokens) {
    return make_error(ErrorCode::kInvalidParams, "min_tokens: must be in [0, max_tokens], got {}",
                      p.min_tokens);
  }
  if (p.stop.size() > limits.max_stop_strings) {
    return make_error(ErrorCode::kInvalidParams, "stop: at most {} strings",
                      limits.max_stop_strings);
  }
  for (const auto& s : p.stop) {
    if (s.empty() || s.size() > limits.max_stop_length) {
      return make_error(ErrorCode::kInvalidParams, "stop: each string must have 1 to {} bytes",
                        limits.max_stop_length);
    }
  }
  for (auto id : p.stop_token_ids) {
    if (id < 0 || id >= vocab) {
      return make_error(ErrorCode::kInvalidParams, "stop_token_ids: {} is not in the vocabulary",
                        id);
    }
  }
  return Status::ok();
}

}  // namespace mlxs::engine
