#pragma once
// A generate call's params as an engine request: the prompt (text through
// the tokenizer, chat messages through the model's template, or token ids)
// and the sampling and stop settings, with the original's defaults
// (temperature 0.7, top_p 1.0, max_tokens 512), and our extensions
// (logit_bias, top_logprobs, priority, ignore_eos, min_tokens, timeout_ms).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "runtime/image_url.h"
#include "protocol/messages_generate.h"
#include "runtime/loaded_model.h"

namespace mlxs::runtime {

core::Result<std::vector<std::int32_t>> build_prompt(const LoadedModel& model,
                                                     const protocol::GenerateParams& params);

// Vision models: images come from `params.images` (placed at the prompt's
// "<image>") or from image content parts of `params.messages`, read within
// `images`' limits.
core::Result<engine::GenerateRequest> build_request(const LoadedModel& model,
                                                    const protocol::GenerateParams& params,
                                                    int default_max_tokens,
                                                    const ImageSources& images);

// "interactive" (or absent) | "batch"; InvalidParams otherwise.
core::Result<engine::Priority> parse_priority(const std::optional<std::string>& name);
// {"<token id>": bias} as engine pairs; InvalidParams for a key that is no token id.
core::Result<std::vector<std::pair<std::int32_t, float>>> parse_logit_bias(
    const std::map<std::string, double>& bias);

// "bf16", "bfloat16", "torch.bfloat16" -> "bfloat16"; unknown names unchanged.
std::string normalize_dtype(std::string_view name);

}  // namespace mlxs::runtime
