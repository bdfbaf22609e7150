#include "server/openai_request.h"

#include <fmt/format.h>

namespace mlxs::server {

using core::ErrorCode;
using core::Json;

namespace {

template <class T>
std::optional<T> opt(const Json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

std::uint64_t seed_of(const Json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  return static_cast<std::uint64_t>(v.get<std::int64_t>());
}

// The fields both endpoints share.
std::optional<ApiError> read_sampling(const Json& body, const RequestLimits& limits,
                                      protocol::GenerateParams* p) {
  p->model_id = body.at("model").get<std::string>();
  p->temperature = opt<double>(body, "temperature");
  p->top_p = opt<double>(body, "top_p");
  p->top_k = opt<std::int64_t>(body, "top_k");
  p->min_p = opt<double>(body, "min_p");
  p->presence_penalty = opt<double>(body, "presence_penalty");
  p->frequency_penalty = opt<double>(body, "frequency_penalty");
  p->repetition_penalty = opt<double>(body, "repetition_penalty");
  p->ignore_eos = opt<bool>(body, "ignore_eos");
  p->min_tokens = opt<std::int64_t>(body, "min_tokens");
  p->priority = opt<std::string>(body, "priority");
  p->timeout_ms = opt<std::int64_t>(body, "timeout_ms");
  if (const auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    p->seed = seed_of(*it);
  }
  if (const auto it = body.find("logit_bias"); it != body.end() && it->is_object()) {
    std::map<std::string, double> bias;
    for (const auto& [token, value] : it->items()) bias.emplace(token, value.get<double>());
    if (!bias.empty()) p->logit_bias = std::move(bias);
  }
  if (const auto it = body.find("stop"); it != body.end()) {
    if (it->is_string()) {
      if (!it->get_ref<const std::string&>().empty())
        p->stop_sequences.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const Json& s : *it) p->stop_sequences.push_back(s.get<std::string>());
    }
  }
  std::optional<std::int64_t> max_tokens = opt<std::int64_t>(body, "max_completion_tokens");
  const char* max_name = "max_completion_tokens";
  if (!max_tokens) {
    max_tokens = opt<std::int64_t>(body, "max_tokens");
    max_name = "max_tokens";
  }
  if (max_tokens && *max_tokens > limits.max_tokens_per_request) {
    return ApiError::invalid_params(
        fmt::format("{} is {}; this server allows at most {} tokens per request", max_name,
                    *max_tokens, limits.max_tokens_per_request),
        max_name);
  }
  p->max_tokens = max_tokens;
  if (p->min_tokens && max_tokens && *p->min_tokens > *max_tokens) {
    return ApiError::invalid_params("min_tokens is larger than max_tokens", "min_tokens");
  }
  return std::nullopt;
}

std::optional<ApiError> read_response_format(const Json& body, protocol::GenerateParams* p) {
  const auto it = body.find("response_format");
  if (it == body.end() || it->is_null()) return std::nullopt;
  const std::string type = it->at("type").get<std::string>();
  if (type == "text") return std::nullopt;
  protocol::GuidanceParams g;
  g.mode = "json_schema";
  if (type == "json_object") {
    g.schema = Json{{"type", "object"}};
  } else {
    const Json& js = it->at("json_schema");
    g.schema = js.contains("schema") ? js.at("schema") : Json(true);
  }
  p->guidance = std::move(g);
  return std::nullopt;
}

std::optional<ApiError> fan_out(const protocol::GenerateParams& base, int n, CompletionPlan* out,
                                const RequestLimits& limits) {
  if (static_cast<int>(out->choices.size()) + n > limits.max_choices) {
    return ApiError::invalid_params(
        fmt::format("this request asks for more than {} choices (prompts x n)", limits.max_choices),
        "n");
  }
  for (int i = 0; i < n; ++i) {
    protocol::GenerateParams p = base;
    if (base.seed && i > 0) p.seed = *base.seed + static_cast<std::uint64_t>(i);
    out->choices.push_back(std::move(p));
  }
  return std::nullopt;
}

}  // namespace

std::string_view schema_name(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kChat:
      return "chat.completions";
    case Endpoint::kCompletions:
      return "completions";
  }
  return "chat.completions";
}

namespace {

// The original TypeScript API's image extras: "image" and "images", each a
// string or {"source": string} (the schema has checked the shapes).
std::vector<std::string> read_extra_images(const Json& body) {
  std::vector<std::string> out;
  const auto take = [&out](const Json& v) {
    out.push_back(v.is_string() ? v.get<std::string>() : v.at("source").get<std::string>());
  };
  if (body.contains("image")) take(body.at("image"));
  if (body.contains("images")) {
    for (const Json& v : body.at("images")) take(v);
  }
  return out;
}

// Chat with image extras: they go first in the last user message, as the
// original's generate_with_image puts "<image>" before the prompt.
std::optional<ApiError> put_images_before_last_user_text(Json& messages,
                                                         const std::vector<std::string>& images) {
  for (std::size_t i = messages.size(); i-- > 0;) {
    Json& m = messages[i];
    if (m.at("role") != "user") continue;
    Json parts = Json::array();
    for (const std::string& src : images) {
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", src}}}});
    }
    Json& content = m["content"];
    if (content.is_array()) {
      for (Json& p : content) parts.push_back(std::move(p));
    } else if (content.is_string() && !content.get<std::string>().empty()) {
      parts.push_back({{"type", "text"}, {"text", content}});
    }
    content = std::move(parts);
    return std::nullopt;
  }
  return ApiError::invalid_params("images need a user message to go with", "messages");
}

}  // namespace

// Text parts joined into one string; with images, the parts as they are
// (text and image_url only), for the worker to place the images where the
// model's chat template puts them.
core::Result<Json> convert_content(const Json& content, std::size_t message_index) {
  if (content.is_null()) return Json(std::string());
  if (content.is_string()) return content;
  std::string text;
  bool first = true;
  bool images = false;
  for (std::size_t j = 0; j < content.size(); ++j) {
    const Json& part = content[j];
    const std::string type = part.at("type").get<std::string>();
    if (type == "image_url") {
      images = true;
      continue;
    }
    if (type != "text") {
      return core::make_error(ErrorCode::kUnsupported,
                              "messages[{}].content[{}]: content parts of type {} are not "
                              "supported; send text or image_url",
                              message_index, j, type);
    }
    if (!first) text += '\n';
    text += part.at("text").get<std::string>();
    first = false;
  }
  if (!images) return Json(text);
  Json parts = Json::array();
  for (const Json& part : content) {
    const std::string type = part.at("type").get<std::string>();
    if (type == "text") {
      parts.push_back({{"type", "text"}, {"text", part.at("text")}});
    } else {
      const Json& url = part.at("image_url");
      parts.push_back(
          {{"type", "image_url"}, {"image_url", {{"url", url.is_string() ? url : url.at("url")}}}});
    }
  }
  return parts;
}

std::optional<ApiError> plan_completion(Endpoint endpoint, const HttpSchemas& schemas,
                                        const Json& body, const RequestLimits& limits,
                                        CompletionPlan* out) {
  *out = CompletionPlan{};
  out->endpoint = endpoint;
  const std::string_view doc = schema_name(endpoint);
  const BodyCheck check = schemas.check(doc, body);
  if (!check.valid) return ApiError::invalid_body(check);
  out->unknown_fields = schemas.unknown_fields(doc, body);
  out->model = body.at("model").get<std::string>();
  out->stream = opt<bool>(body, "stream").value_or(false);
  if (const auto it = body.find("stream_options"); it != body.end() && it->is_object()) {
    if (!out->stream) {
      return ApiError::invalid_params("stream_options is only allowed when stream is true",
                                      "stream_options");
    }
    out->include_usage = it->value("include_usage", false);
  }
  protocol::GenerateParams base;
  if (auto e = read_sampling(body, limits, &base)) return e;
  const int n = static_cast<int>(opt<std::int64_t>(body, "n").value_or(1));
  out->n = n;

  const std::vector<std::string> extra_images = read_extra_images(body);
  if (endpoint == Endpoint::kChat) {
    out->logprobs = opt<bool>(body, "logprobs").value_or(false);
    const auto top = opt<std::int64_t>(body, "top_logprobs");
    if (top && !out->logprobs) {
      return ApiError::invalid_params("top_logprobs needs logprobs set to true", "top_logprobs");
    }
    out->top_logprobs = static_cast<int>(top.value_or(0));
    Json messages = Json::array();
    const Json& in = body.at("messages");
    for (std::size_t i = 0; i < in.size(); ++i) {
      auto text = convert_content(in[i].contains("content") ? in[i].at("content") : Json(), i);
      if (!text.is_ok()) {
        ApiError e = ApiError::from_status(text.status());
        e.param = fmt::format("messages.{}.content", i);
        return e;
      }
      Json m = {{"role", in[i].at("role")}, {"content", *text}};
      if (in[i].contains("name")) m["name"] = in[i].at("name");
      messages.push_back(std::move(m));
    }
    if (!extra_images.empty()) {
      if (auto e = put_images_before_last_user_text(messages, extra_images)) return e;
    }
    base.messages = std::move(messages);
    if (auto e = read_response_format(body, &base)) return e;
  } else {
    const auto lp = opt<std::int64_t>(body, "logprobs");
    out->logprobs = lp.has_value();
    out->top_logprobs = static_cast<int>(lp.value_or(0));
  }
  if (out->logprobs) base.logprobs = true;
  if (out->top_logprobs > 0) base.top_logprobs = out->top_logprobs;

  if (endpoint == Endpoint::kChat) return fan_out(base, n, out, limits);
  const Json& prompt = body.at("prompt");
  if (!extra_images.empty()) {
    // The worker places them at the prompt's "<image>" markers.
    if (!prompt.is_string()) {
      return ApiError::invalid_params("images need one text prompt", "prompt");
    }
    base.images = extra_images;
  }
  const auto add_tokens = [&](const Json& ids) {
    protocol::GenerateParams p = base;
    for (const Json& id : ids) p.prompt_tokens.push_back(id.get<std::int64_t>());
    return fan_out(p, n, out, limits);
  };
  if (prompt.is_string()) {
    base.prompt = prompt.get<std::string>();
    return fan_out(base, n, out, limits);
  }
  if (prompt.front().is_number()) return add_tokens(prompt);
  for (const Json& entry : prompt) {
    std::optional<ApiError> e;
    if (entry.is_string()) {
      protocol::GenerateParams p = base;
      p.prompt = entry.get<std::string>();
      e = fan_out(p, n, out, limits);
    } else {
      e = add_tokens(entry);
    }
    if (e) return e;
  }
  return std::nullopt;
}

}  // namespace mlxs::server
