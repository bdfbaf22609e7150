#include "protocol/wire_error.h"

#include <array>

namespace mlxs::protocol {

using core::ErrorCode;

namespace {

constexpr std::string_view kValidation = "ValidationError";

// One row per ErrorCode, in enum order (checked by wire_table()'s test).
constexpr std::array<WireCode, core::kErrorCodeCount> kTable = {{
    {ErrorCode::kOk, 0, Fault::kClient, {}, false},
    {ErrorCode::kParseError, kParseErrorCode, Fault::kClient, {}, false},
    {ErrorCode::kInvalidRequest, kInvalidRequestCode, Fault::kClient, {}, false},
    // The original answers unknown methods with -32602, never -32601.
    {ErrorCode::kMethodNotFound, kInvalidParamsCode, Fault::kClient, kValidation, false},
    {ErrorCode::kInvalidParams, kInvalidParamsCode, Fault::kClient, kValidation, false},
    // Unexpected failures: the original's catch-all, details hidden.
    {ErrorCode::kInternalError, kRuntimeErrorCode, Fault::kServer, "InternalError", false},
    {ErrorCode::kServerError, kServerErrorCode, Fault::kServer, {}, false},
    {ErrorCode::kModelLoadError, kModelLoadErrorCode, Fault::kServer, {}, true},
    {ErrorCode::kGenerationError, kGenerationErrorCode, Fault::kServer, {}, true},
    {ErrorCode::kTokenizerError, kTokenizerErrorCode, Fault::kServer, {}, true},
    // A guidance failure at request time is a bad structured-output request.
    {ErrorCode::kGuidanceError, kInvalidParamsCode, Fault::kClient, kValidation, true},
    {ErrorCode::kModelNotLoaded, kModelNotLoadedCode, Fault::kServer, {}, true},
    {ErrorCode::kRuntimeError, kRuntimeErrorCode, Fault::kServer, {}, false},
    {ErrorCode::kTransportError, kTransportErrorCode, Fault::kServer, {}, false},
    {ErrorCode::kTimeout, kTimeoutCode, Fault::kServer, {}, true},
    {ErrorCode::kCancelled, kCancelledCode, Fault::kServer, {}, true},
    {ErrorCode::kQueueFull, kQueueFullCode, Fault::kServer, {}, true},
    {ErrorCode::kWorkerCrashed, kWorkerCrashedCode, Fault::kServer, {}, false},
    {ErrorCode::kBackpressureExceeded, kBackpressureExceededCode, Fault::kServer, {}, true},
    {ErrorCode::kUnsupported, kInvalidParamsCode, Fault::kClient, kValidation, false},
    {ErrorCode::kTemplateError, kInvalidParamsCode, Fault::kClient, kValidation, false},
    {ErrorCode::kConfigError, kInvalidParamsCode, Fault::kClient, kValidation, false},
    {ErrorCode::kNotFound, kInvalidParamsCode, Fault::kClient, kValidation, false},
    {ErrorCode::kIoError, kIoErrorCode, Fault::kServer, {}, false},
}};

}  // namespace

const WireCode& wire_code(ErrorCode code) {
  const auto i = static_cast<std::size_t>(code);
  return i < kTable.size() ? kTable[i]
                           : kTable[static_cast<std::size_t>(ErrorCode::kInternalError)];
}

std::span<const WireCode> wire_table() {
  return kTable;
}

core::Json ErrorObject::to_json() const {
  core::Json j = {{"code", code}, {"message", message}};
  if (!data.is_null()) j["data"] = data;
  return j;
}

ErrorObject make_error_object(const core::Status& status,
                              std::optional<std::string_view> model_id) {
  const ErrorCode code = status.is_ok() ? ErrorCode::kInternalError : status.code();
  const WireCode& row = wire_code(code);
  ErrorObject out;
  out.code = row.number;
  const bool hidden = code == ErrorCode::kInternalError;
  out.message = hidden ? std::string(kInternalErrorMessage) : status.message();
  out.data = core::Json::object();
  if (!row.data_type.empty()) out.data["type"] = row.data_type;
  out.data["code"] = core::error_code_name(code);
  if (model_id) out.data["model_id"] = *model_id;
  return out;
}

ErrorCode error_code_of(const ErrorObject& error) {
  if (error.data.is_object()) {
    const auto it = error.data.find("code");
    if (it != error.data.end() && it->is_string()) {
      if (auto named = core::error_code_from_name(it->get_ref<const std::string&>())) {
        if (*named != ErrorCode::kOk) return *named;
      }
    }
  }
  switch (error.code) {
    case kParseErrorCode:
      return ErrorCode::kParseError;
    case kInvalidRequestCode:
      return ErrorCode::kInvalidRequest;
    case kMethodNotFoundCode:
      return ErrorCode::kMethodNotFound;
    case kInvalidParamsCode:
      return ErrorCode::kInvalidParams;
    case kInternalErrorCode:
      return ErrorCode::kInternalError;
    case kRuntimeErrorCode:
      return ErrorCode::kRuntimeError;
    default:
      break;
  }
  for (const WireCode& row : kTable) {
    if (row.number == error.code && row.code != ErrorCode::kOk) return row.code;
  }
  return ErrorCode::kRuntimeError;
}

}  // namespace mlxs::protocol
