#pragma once
// OpenAI response objects: chat.completion(.chunk) and text_completion, their
// logprobs in each endpoint's shape, and usage with
// prompt_tokens_details.cached_tokens.

#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "protocol/notifications.h"
#include "server/openai_request.h"

namespace mlxs::server {

struct ResponseMeta {
  Endpoint endpoint = Endpoint::kChat;
  std::string id;            // "chatcmpl-..." / "cmpl-..."
  std::int64_t created = 0;  // Unix seconds
  std::string model;
};

// One generated token as the logprobs objects need it.
struct TokenRecord {
  std::int32_t id = 0;
  std::string text;
  double logprob = 0;
  std::vector<protocol::TopLogprob> top;
};

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
};

// One finished choice of a non-streamed answer.
struct ChoiceResult {
  std::string text;
  std::string finish_reason;  // "stop" | "length"
  std::vector<TokenRecord> tokens;
};

core::Json usage_json(const Usage& usage);
// Logprobs of `tokens` in the endpoint's shape; `text_offset` is where the
// first token starts in the choice's text (completions only).
core::Json logprobs_json(Endpoint endpoint, const std::vector<TokenRecord>& tokens,
                         std::size_t text_offset);

core::Json full_response(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                         bool with_logprobs, const Usage& usage);

// One streamed chunk for choice `index`: chat puts `text` in delta.content
// (and the role in the first), completions in `text`. finish_reason null
// while running. `usage_null` adds "usage": null (stream_options.include_usage).
core::Json stream_chunk(const ResponseMeta& meta, std::size_t index, const std::string* role,
                        const std::string& text, const core::Json& logprobs,
                        const core::Json& finish_reason, bool usage_null);
// The last chunk of include_usage: no choices, the usage.
core::Json usage_chunk(const ResponseMeta& meta, const Usage& usage);

// Serialises for the wire; invalid UTF-8 is replaced, never thrown on.
std::string dump_json(const core::Json& value);

}  // namespace mlxs::server
