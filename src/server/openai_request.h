#pragma once
// OpenAI request bodies -> the generate calls that answer them. A body is
// checked against its schemas/http document first (every failing path is
// reported), then turned into one protocol::GenerateParams per choice:
// prompts x n, with seeds derived per choice (seed + i) so that a seeded
// request with n > 1 is reproducible and its choices differ.
// Pure functions of the body: the fuzz target drives them directly.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "protocol/messages_generate.h"
#include "server/api_error.h"
#include "server/http_schemas.h"

namespace mlxs::server {

enum class Endpoint : std::uint8_t { kChat, kCompletions };

struct RequestLimits {
  std::int64_t max_tokens_per_request = 4096;  // the worker's own cap
  int max_choices = 64;                        // prompts x n
};

struct CompletionPlan {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;
  int n = 1;  // choices per prompt
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  // One generate call per choice, in choice-index order.
  std::vector<protocol::GenerateParams> choices;
  // Top-level fields the document does not know (ignored; named in a header).
  std::vector<std::string> unknown_fields;
};

// The schema document each endpoint's body is checked against.
std::string_view schema_name(Endpoint endpoint);

// Parses and validates; the error is the complete 400 answer.
std::optional<ApiError> plan_completion(Endpoint endpoint, const HttpSchemas& schemas,
                                        const core::Json& body, const RequestLimits& limits,
                                        CompletionPlan* out);

// Chat message content (a string, null, or content parts) as a chat
// template reads it: text parts joined by newlines into one string, or, when
// there are image_url parts, the text and image parts in order (the worker
// places the images for vision models and refuses them for others). Audio
// and file parts are Unsupported.
core::Result<core::Json> convert_content(const core::Json& content, std::size_t message_index);

}  // namespace mlxs::server
