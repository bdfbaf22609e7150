#include "protocol/codec.h"

namespace mlxs::protocol::detail {

namespace {

std::string_view type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::binary:
    case Json::value_t::discarded:
      return "an unsupported value";
  }
  return "an unsupported value";
}

std::string shown(const std::string& path) {
  return path.empty() ? std::string("(root)") : path;
}

}  // namespace

core::Status type_error(const std::string& path, std::string_view want, const Json& got) {
  return core::make_error(core::ErrorCode::kInvalidParams, "{}: expected {}, got {}", shown(path),
                          want, type_name(got));
}

core::Status range_error(const std::string& path, std::string_view want) {
  return core::make_error(core::ErrorCode::kInvalidParams, "{}: expected {}", shown(path), want);
}

std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<long double> integral_value(const Json& j) {
  if (j.is_number_unsigned()) return static_cast<long double>(j.get<std::uint64_t>());
  if (j.is_number_integer()) return static_cast<long double>(j.get<std::int64_t>());
  if (j.is_number_float()) {
    const double d = j.get<double>();
    if (std::isfinite(d) && std::floor(d) == d) return static_cast<long double>(d);
  }
  return std::nullopt;
}

}  // namespace mlxs::protocol::detail
