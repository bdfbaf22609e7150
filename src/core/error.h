#pragma once
// The one error-code enum of the project, named as in the original mlx-serving
// (../shared/compat/errors.md) plus our own codes (../shared/DESIGN.md §3.5).
// The wire numbers live in protocol/; this file only names the conditions.

#include <cstdint>
#include <optional>
#include <string_view>

namespace mlxs::core {

enum class ErrorCode : std::uint8_t {
  kOk,
  // The original's codes.
  kParseError,
  kInvalidRequest,
  kMethodNotFound,
  kInvalidParams,
  kInternalError,
  kServerError,
  kModelLoadError,
  kGenerationError,
  kTokenizerError,
  kGuidanceError,
  kModelNotLoaded,
  kRuntimeError,
  kTransportError,
  kTimeout,
  kCancelled,
  // Ours.
  kQueueFull,
  kWorkerCrashed,
  kBackpressureExceeded,
  kUnsupported,
  kTemplateError,
  kConfigError,
  kNotFound,
  kIoError,
};

inline constexpr int kErrorCodeCount = static_cast<int>(ErrorCode::kIoError) + 1;

// The name clients switch on ("ModelLoadError"), stable across versions.
std::string_view error_code_name(ErrorCode code);

// Inverse of error_code_name; nullopt for unknown names.
std::optional<ErrorCode> error_code_from_name(std::string_view name);

}  // namespace mlxs::core
