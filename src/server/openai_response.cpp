#include "server/openai_response.h"

namespace mlxs::server {

using core::Json;

namespace {

Json bytes_of(const std::string& text) {
  Json out = Json::array();
  for (unsigned char c : text) out.push_back(static_cast<int>(c));
  return out;
}

const char* object_name(Endpoint endpoint, bool chunk) {
  switch (endpoint) {
    case Endpoint::kChat:
      return chunk ? "chat.completion.chunk" : "chat.completion";
    case Endpoint::kCompletions:
      return "text_completion";
  }
  return "chat.completion";
}

Json head(const ResponseMeta& meta, bool chunk) {
  return Json{{"id", meta.id},
              {"object", object_name(meta.endpoint, chunk)},
              {"created", meta.created},
              {"model", meta.model}};
}

}  // namespace

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json usage_json(const Usage& usage) {
  return Json{{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

Json logprobs_json(Endpoint endpoint, const std::vector<TokenRecord>& tokens,
                   std::size_t text_offset) {
  if (endpoint == Endpoint::kChat) {
    Json content = Json::array();
    for (const TokenRecord& t : tokens) {
      Json top = Json::array();
      for (const auto& alt : t.top) {
        top.push_back(
            {{"token", alt.token}, {"logprob", alt.logprob}, {"bytes", bytes_of(alt.token)}});
      }
      content.push_back({{"token", t.text},
                         {"logprob", t.logprob},
                         {"bytes", bytes_of(t.text)},
                         {"top_logprobs", std::move(top)}});
    }
    return Json{{"content", std::move(content)}, {"refusal", nullptr}};
  }
  Json texts = Json::array(), lps = Json::array(), tops = Json::array(), offsets = Json::array();
  std::size_t offset = text_offset;
  for (const TokenRecord& t : tokens) {
    texts.push_back(t.text);
    lps.push_back(t.logprob);
    Json top = Json::object();
    for (const auto& alt : t.top) top[alt.token] = alt.logprob;
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += t.text.size();
  }
  return Json{{"tokens", std::move(texts)},
              {"token_logprobs", std::move(lps)},
              {"top_logprobs", std::move(tops)},
              {"text_offset", std::move(offsets)}};
}

Json full_response(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                   bool with_logprobs, const Usage& usage) {
  Json out = head(meta, false);
  Json list = Json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult& c = choices[i];
    Json choice = {{"index", i}, {"finish_reason", c.finish_reason}};
    choice["logprobs"] = with_logprobs ? logprobs_json(meta.endpoint, c.tokens, 0) : Json(nullptr);
    if (meta.endpoint == Endpoint::kChat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
    } else {
      choice["text"] = c.text;
    }
    list.push_back(std::move(choice));
  }
  out["choices"] = std::move(list);
  out["usage"] = usage_json(usage);
  return out;
}

Json stream_chunk(const ResponseMeta& meta, std::size_t index, const std::string* role,
                  const std::string& text, const Json& logprobs, const Json& finish_reason,
                  bool usage_null) {
  Json out = head(meta, true);
  Json choice = {{"index", index}, {"logprobs", logprobs}, {"finish_reason", finish_reason}};
  if (meta.endpoint == Endpoint::kChat) {
    Json delta = Json::object();
    if (role != nullptr) delta["role"] = *role;
    if (role != nullptr || !text.empty()) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  out["choices"] = Json::array({std::move(choice)});
  if (usage_null) out["usage"] = nullptr;
  return out;
}

Json usage_chunk(const ResponseMeta& meta, const Usage& usage) {
  Json out = head(meta, true);
  out["choices"] = Json::array();
  out["usage"] = usage_json(usage);
  return out;
}

}  // namespace mlxs::server
