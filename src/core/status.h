#pragma once
// Errors are values: Status (code + one-line message) and Result<T> (a value or
// a Status). GCC 12 has no std::expected, so this is the small version we need.

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "core/error.h"

namespace mlxs::core {

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string_view code_name() const { return error_code_name(code_); }

  // "ModelLoadError: model.safetensors: header truncated"
  std::string to_string() const;

  // Adds context in front of the message, keeping the code.
  Status with_context(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is meaningless");

  Result(T value) : data_(std::in_place_index<0>, std::move(value)) {}        // NOLINT(implicit)
  Result(Status status) : data_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(data_).is_ok() && "a Result built from a Status must be an error");
  }

  bool is_ok() const { return data_.index() == 0; }
  explicit operator bool() const { return is_ok(); }

  T& value() & {
    assert(is_ok());
    return std::get<0>(data_);
  }
  const T& value() const& {
    assert(is_ok());
    return std::get<0>(data_);
  }
  T&& value() && {
    assert(is_ok());
    return std::get<0>(std::move(data_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<1>(data_);
  }
  Status take_status() && { return is_ok() ? Status() : std::get<1>(std::move(data_)); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace mlxs::core

#define MLXS_CONCAT_INNER(a, b) a##b
#define MLXS_CONCAT(a, b) MLXS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` fails.
#define MLXS_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::mlxs::core::Status mlxs_status_ = (expr);     \
    if (!mlxs_status_.is_ok()) return mlxs_status_; \
  } while (false)

// MLXS_ASSIGN_OR_RETURN(auto x, make_x()) — binds the value or returns the error.
#define MLXS_ASSIGN_OR_RETURN(lhs, expr) \
  MLXS_ASSIGN_OR_RETURN_IMPL(MLXS_CONCAT(mlxs_result_, __LINE__), lhs, expr)
#define MLXS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)       \
  auto tmp = (expr);                                     \
  if (!tmp.is_ok()) return std::move(tmp).take_status(); \
  lhs = std::move(tmp).value()
