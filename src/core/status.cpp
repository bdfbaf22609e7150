#include "core/status.h"

namespace mlxs::core {

std::string Status::to_string() const {
  if (is_ok()) return "Ok";
  return fmt::format("{}: {}", code_name(), message_);
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_));
}

}  // namespace mlxs::core
