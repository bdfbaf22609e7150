#include "server/api_error.h"

namespace mlxs::server {

using core::ErrorCode;
using core::Json;

int http_status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kParseError:
    case ErrorCode::kInvalidRequest:
    case ErrorCode::kInvalidParams:
    case ErrorCode::kTokenizerError:
    case ErrorCode::kGuidanceError:
    case ErrorCode::kUnsupported:
    case ErrorCode::kTemplateError:
    case ErrorCode::kConfigError:
      return 400;
    case ErrorCode::kModelLoadError:
      return 422;
    case ErrorCode::kModelNotLoaded:
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kMethodNotFound:
      return 501;
    case ErrorCode::kQueueFull:
    case ErrorCode::kBackpressureExceeded:
      return 429;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kCancelled:
    case ErrorCode::kWorkerCrashed:
    case ErrorCode::kTransportError:
      return 503;
    case ErrorCode::kInternalError:
    case ErrorCode::kServerError:
    case ErrorCode::kGenerationError:
    case ErrorCode::kRuntimeError:
    case ErrorCode::kIoError:
      return 500;
  }
  return 500;
}

std::string_view openai_type_of(int http_status) {
  switch (http_status) {
    case 400:
    case 404:
    case 405:
    case 408:
    case 413:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 429:
      return "rate_limit_error";
    default:
      return "server_error";
  }
}

ApiError ApiError::http(int status, std::string_view code, std::string message) {
  ApiError e;
  e.status = status;
  e.type = std::string(openai_type_of(status));
  e.code = std::string(code);
  e.message = std::move(message);
  return e;
}

ApiError ApiError::from_status(const core::Status& status) {
  return http(http_status_of(status.code()), status.code_name(), status.message());
}

ApiError ApiError::invalid_params(std::string message, std::optional<std::string> param) {
  ApiError e = http(400, error_code_name(ErrorCode::kInvalidParams), std::move(message));
  e.param = std::move(param);
  return e;
}

ApiError ApiError::invalid_body(const BodyCheck& check) {
  ApiError e = invalid_params("Invalid request body: " + check.summary);
  e.details = Json::array();
  for (const BodyFailure& f : check.failures) {
    e.details.push_back({{"path", f.path}, {"keyword", f.keyword}, {"message", f.message}});
  }
  if (!check.failures.empty()) {
    // OpenAI's `param` names one field: the first failing one, as a dotted name.
    std::string param;
    const std::string& path = check.failures.front().path;
    for (char c : path) param += c == '/' ? '.' : c;
    if (!param.empty() && param.front() == '.') param.erase(0, 1);
    if (!param.empty()) e.param = param;
  }
  return e;
}

Json ApiError::to_json() const {
  Json error = {{"message", message},
                {"type", type},
                {"param", param ? Json(*param) : Json(nullptr)},
                {"code", code}};
  if (!details.is_null()) error["details"] = details;
  return Json{{"error", std::move(error)}};
}

}  // namespace mlxs::server
