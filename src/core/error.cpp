#include "core/error.h"

namespace mlxs::core {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "Ok";
    case ErrorCode::kParseError:
      return "ParseError";
    case ErrorCode::kInvalidRequest:
      return "InvalidRequest";
    case ErrorCode::kMethodNotFound:
      return "MethodNotFound";
    case ErrorCode::kInvalidParams:
      return "InvalidParams";
    case ErrorCode::kInternalError:
      return "InternalError";
    case ErrorCode::kServerError:
      return "ServerError";
    case ErrorCode::kModelLoadError:
      return "ModelLoadError";
    case ErrorCode::kGenerationError:
      return "GenerationError";
    case ErrorCode::kTokenizerError:
      return "TokenizerError";
    case ErrorCode::kGuidanceError:
      return "GuidanceError";
    case ErrorCode::kModelNotLoaded:
      return "ModelNotLoaded";
    case ErrorCode::kRuntimeError:
      return "RuntimeError";
    case ErrorCode::kTransportError:
      return "TransportError";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kCancelled:
      return "Cancelled";
    case ErrorCode::kQueueFull:
      return "QueueFull";
    case ErrorCode::kWorkerCrashed:
      return "WorkerCrashed";
    case ErrorCode::kBackpressureExceeded:
      return "BackpressureExceeded";
    case ErrorCode::kUnsupported:
      return "Unsupported";
    case ErrorCode::kTemplateError:
      return "TemplateError";
    case ErrorCode::kConfigError:
      return "ConfigError";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kIoError:
      return "IoError";
  }
  return "Unknown";
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) {
  for (int i = 0; i < kErrorCodeCount; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    if (error_code_name(code) == name) return code;
  }
  return std::nullopt;
}

}  // namespace mlxs::core
