#pragma once
// The wire error table: how each core::ErrorCode travels as a JSON-RPC error
// object. The original's numbers where it has them (compat/errors.md §1); a
// client's own mistakes that it lacks are -32602 with our name in data.code
// (the original client exempts only -32602..-32600 from its circuit breaker);
// server-side conditions it lacks get numbers from -32010 down.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/json_util.h"
#include "core/status.h"

namespace mlxs::protocol {

// The original's numbers.
inline constexpr int kParseErrorCode = -32700;
inline constexpr int kInvalidRequestCode = -32600;
inline constexpr int kMethodNotFoundCode = -32601;  // never sent: the original answers -32602
inline constexpr int kInvalidParamsCode = -32602;
inline constexpr int kInternalErrorCode = -32603;
inline constexpr int kServerErrorCode = -32000;
inline constexpr int kModelLoadErrorCode = -32001;
inline constexpr int kGenerationErrorCode = -32002;
inline constexpr int kTokenizerErrorCode = -32003;
inline constexpr int kGuidanceErrorCode = -32004;
inline constexpr int kModelNotLoadedCode = -32005;
inline constexpr int kRuntimeErrorCode = -32099;
// Ours: server-side conditions the original lacks.
inline constexpr int kQueueFullCode = -32010;
inline constexpr int kTimeoutCode = -32011;
inline constexpr int kCancelledCode = -32012;
inline constexpr int kWorkerCrashedCode = -32013;
inline constexpr int kBackpressureExceededCode = -32014;
inline constexpr int kTransportErrorCode = -32015;
inline constexpr int kIoErrorCode = -32016;

// The message the original sends for every unexpected failure (details hidden).
inline constexpr std::string_view kInternalErrorMessage = "An unexpected internal error occurred";

// Who a code blames: the client's own mistake (exempt from the client's
// breaker) or the server.
enum class Fault : std::uint8_t { kClient, kServer };

struct WireCode {
  core::ErrorCode code = core::ErrorCode::kOk;
  int number = 0;
  Fault fault = Fault::kServer;
  // data.type as the original sends it ("ValidationError" for -32602), or empty.
  std::string_view data_type;
  // Whether the original puts data.model_id on it (its domain errors).
  bool carries_model_id = false;
};

// The row of `code` (kOk has number 0 and is never sent).
const WireCode& wire_code(core::ErrorCode code);
// Every row, in ErrorCode order (docs and tests walk it).
std::span<const WireCode> wire_table();

// The error object of a JSON-RPC error response.
struct ErrorObject {
  int code = 0;
  std::string message;
  core::Json data;  // an object, or null when absent

  core::Json to_json() const;
};

// Builds the error object of a failed call. `model_id` (when known) goes to
// data.model_id as the original does; internal errors hide their message.
ErrorObject make_error_object(const core::Status& status,
                              std::optional<std::string_view> model_id = std::nullopt);

// The ErrorCode a wire error stands for: data.code when it names one of ours,
// else the number's row; kRuntimeError for unknown numbers.
core::ErrorCode error_code_of(const ErrorObject& error);

}  // namespace mlxs::protocol
