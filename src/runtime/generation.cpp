#include "runtime/generation.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>

#include "protocol/envelope.h"
#include "runtime/vision_prompt.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

core::Result<std::vector<std::int32_t>> encode(const LoadedModel& m, const std::string& text,
                                               bool special) {
  auto ids = m.tokenizer->encode(text, special);
  if (!ids.is_ok()) {
    return Status(ErrorCode::kTokenizerError,
                  "Tokenizer error for " + m.model_id + ": " + ids.status().message());
  }
  return ids;
}

core::Result<std::string> render(const LoadedModel& m, const core::Json& messages) {
  if (!m.chat) {
    return Status(ErrorCode::kTemplateError,
                  "Template rendering failed: model " + m.model_id + " has no chat template");
  }
  template_::ChatRequest request;
  request.messages = template_::OrderedJson::parse(protocol::dump(messages));
  request.add_generation_prompt = true;
  auto text = m.chat->render(request);
  if (!text.is_ok()) {
    return Status(ErrorCode::kTemplateError,
                  "Template rendering failed: " + text.status().message());
  }
  return text;
}

core::Result<std::vector<std::int32_t>> render_and_encode(const LoadedModel& m,
                                                          const core::Json& messages) {
  MLXS_ASSIGN_OR_RETURN(const std::string text, render(m, messages));
  // The template writes the special tokens itself.
  return encode(m, text, false);
}

// A vision request: the images of `images` or of the messages' content
// parts, placed in the prompt. False when the request has none.
core::Result<bool> build_image_prompt(const LoadedModel& m, const protocol::GenerateParams& p,
                                      const ImageSources& limits,
                                      engine::GenerateRequest& req) {
  const bool has_messages = p.messages && p.messages->is_array() && !p.messages->empty();
  std::vector<std::string> sources = p.images;
  core::Json messages = has_messages ? *p.messages : core::Json();
  if (has_messages) {
    if (!sources.empty()) {
      return Status(ErrorCode::kInvalidParams,
                    "images: with messages, send images as content parts");
    }
    MLXS_ASSIGN_OR_RETURN(sources, take_image_parts(messages));
  }
  if (sources.empty()) return false;
  if (m.model->vision() == nullptr) {
    return Status(ErrorCode::kInvalidParams, "images: model " + m.model_id + " takes no images");
  }
  std::string text;
  if (has_messages) {
    MLXS_ASSIGN_OR_RETURN(text, render(m, messages));
  } else {
    MLXS_ASSIGN_OR_RETURN(text, original_image_prompt(m, p.prompt));
  }
  MLXS_ASSIGN_OR_RETURN(ImagePrompt prompt,
                        encode_with_images(m, text, !has_messages, sources, limits));
  req.prompt = std::move(prompt.ids);
  req.images = std::move(prompt.images);
  return true;
}

}  // namespace

std::string normalize_dtype(std::string_view name) {
  std::string n = lower(name);
  if (n.rfind("torch.", 0) == 0) n = n.substr(6);
  if (n == "bf16") return "bfloat16";
  if (n == "f16" || n == "fp16" || n == "half") return "float16";
  if (n == "f32" || n == "fp32" || n == "float") return "float32";
  return n;
}

core::Result<std::vector<std::int32_t>> build_prompt(const LoadedModel& m,
                                                     const protocol::GenerateParams& p) {
  const bool has_messages = p.messages && p.messages->is_array() && !p.messages->empty();
  if ((has_messages || !p.prompt.empty()) && !m.tokenizer) {
    return Status(ErrorCode::kTokenizerError,
                  "Tokenizer error for " + m.model_id +
                      ": the model has no tokenizer.json; send prompt_tokens");
  }
  if (has_messages) return render_and_encode(m, *p.messages);
  if (!p.prompt.empty()) {
    // The original applies the chat template only for Gemma-2 ids.
    const std::string id = lower(m.model_id);
    if (m.chat &&
        (id.find("gemma-2") != std::string::npos || id.find("gemma2") != std::string::npos)) {
      return render_and_encode(
          m, core::Json::array({core::Json{{"role", "user"}, {"content", p.prompt}}}));
    }
    return encode(m, p.prompt, true);
  }
  if (!p.prompt_tokens.empty()) {
    std::vector<std::int32_t> ids;
    ids.reserve(p.prompt_tokens.size());
    for (auto id : p.prompt_tokens) ids.push_back(static_cast<std::int32_t>(id));
    return ids;
  }
  // An empty prompt: what the tokenizer makes of "", else the BOS token.
  std::vector<std::int32_t> ids;
  if (m.tokenizer) {
    MLXS_ASSIGN_OR_RETURN(ids, encode(m, std::string(), true));
  }
  if (ids.empty()) {
    const auto& gen = m.model->generation_config();
    const auto bos = gen.bos_token_id ? gen.bos_token_id : m.model->config().bos_token_id;
    if (!bos)
      return Status(ErrorCode::kInvalidParams,
                    "prompt: empty, and the model has no BOS token to start from");
    ids.push_back(static_cast<std::int32_t>(*bos));
  }
  return ids;
}

core::Result<engine::Priority> parse_priority(const std::optional<std::string>& name) {
  if (!name || *name == "interactive") return engine::Priority::kInteractive;
  if (*name == "batch") return engine::Priority::kBatch;
  return Status(ErrorCode::kInvalidParams, "priority: must be \"interactive\" or \"batch\"");
}

core::Result<std::vector<std::pair<std::int32_t, float>>> parse_logit_bias(
    const std::map<std::string, double>& bias) {
  std::vector<std::pair<std::int32_t, float>> out;
  out.reserve(bias.size());
  for (const auto& [key, value] : bias) {
    std::int64_t id = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size() || key.empty() || id < 0 ||
        id > std::numeric_limits<std::int32_t>::max()) {
      return Status(ErrorCode::kInvalidParams,
                    "logit_bias: keys must be token ids, got \"" + key.substr(0, 32) + "\"");
    }
    out.emplace_back(static_cast<std::int32_t>(id), static_cast<float>(value));
  }
  return out;
}

core::Result<engine::GenerateRequest> build_request(const LoadedModel& m,
                                                    const protocol::GenerateParams& p,
                                                    int default_max_tokens,
                                                    const ImageSources& images) {
  engine::GenerateRequest req;
  MLXS_ASSIGN_OR_RETURN(const bool with_images, build_image_prompt(m, p, images, req));
  if (!with_images) {
    MLXS_ASSIGN_OR_RETURN(req.prompt, build_prompt(m, p));
  }
  auto& s = req.sampling;
  s.temperature = static_cast<float>(p.temperature.value_or(0.7));
  s.top_p = static_cast<float>(p.top_p.value_or(1.0));
  s.top_k = static_cast<int>(p.top_k.value_or(0));
  s.min_p = static_cast<float>(p.min_p.value_or(0.0));
  s.presence_penalty = static_cast<float>(p.presence_penalty.value_or(0.0));
  s.frequency_penalty = static_cast<float>(p.frequency_penalty.value_or(0.0));
  s.repetition_penalty = static_cast<float>(p.repetition_penalty.value_or(1.0));
  s.seed = p.seed;
  s.top_logprobs = static_cast<int>(p.top_logprobs.value_or(0));
  s.logprobs = p.logprobs.value_or(false) || s.top_logprobs > 0;
  if (p.logit_bias) {
    MLXS_ASSIGN_OR_RETURN(s.logit_bias, parse_logit_bias(*p.logit_bias));
  }
  req.stop.max_tokens = static_cast<int>(p.max_tokens.value_or(default_max_tokens));
  req.stop.min_tokens = static_cast<int>(p.min_tokens.value_or(0));
  req.stop.ignore_eos = p.ignore_eos.value_or(false);
  req.stop.stop = p.stop_sequences;
  for (auto id : p.stop_token_ids) req.stop.stop_token_ids.push_back(static_cast<std::int32_t>(id));
  MLXS_ASSIGN_OR_RETURN(req.priority, parse_priority(p.priority));
  if (p.timeout_ms) req.timeout_ns = *p.timeout_ms * 1'000'000;
  return req;
}

}  // namespace mlxs::runtime
