#pragma once
// Errors as HTTP answers in OpenAI's shape:
//   {"error": {"message", "type", "param", "code", "details"?}}
// `code` is our machine code (core::ErrorCode's name, or one of the few
// HTTP-only codes below); `type` is OpenAI's category. Messages are the
// one-line Status messages, which never carry paths or stack traces.

#include <optional>
#include <string>

#include "core/json_util.h"
#include "core/status.h"
#include "server/http_schemas.h"

namespace mlxs::server {

// HTTP-only machine codes (not conditions of the engine).
inline constexpr std::string_view kUnauthorized = "Unauthorized";
inline constexpr std::string_view kPayloadTooLarge = "PayloadTooLarge";
inline constexpr std::string_view kRouteNotFound = "NotFound";
inline constexpr std::string_view kMethodNotAllowed = "MethodNotAllowed";
inline constexpr std::string_view kRequestTimeout = "RequestTimeout";

struct ApiError {
  int status = 500;
  std::string type = "server_error";
  std::string code = "InternalError";
  std::string message;
  std::optional<std::string> param;
  core::Json details;  // null, or [{"path","keyword","message"}] for invalid bodies

  static ApiError from_status(const core::Status& status);
  static ApiError invalid_params(std::string message, std::optional<std::string> param = {});
  // 400 with every failing path of a body.
  static ApiError invalid_body(const BodyCheck& check);
  static ApiError http(int status, std::string_view code, std::string message);

  core::Json to_json() const;
  // Whether the answer carries Retry-After (the condition passes).
  bool retryable() const { return status == 429 || status == 503; }
};

// HTTP status and OpenAI type of each machine code.
int http_status_of(core::ErrorCode code);
std::string_view openai_type_of(int http_status);

}  // namespace mlxs::server
