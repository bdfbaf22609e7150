#include "tokenizer/json_fields.h"

#include <fmt/format.h>

#include "core/json_util.h"

namespace mlxs::tokenizer {

core::Status field_error(std::string_view path, std::string_view what) {
  return core::make_error(core::ErrorCode::kTokenizerError, "{}: {}", path, what);
}

std::string child_path(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string index_path(std::string_view path, std::size_t index) {
  return fmt::format("{}[{}]", path, index);
}

const Json* find_field(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end()) return nullptr;
  const Json* v = &*it;
  return v->is_null() ? nullptr : v;
}

namespace {
const Json* find(const Json& obj, std::string_view key) {
  return find_field(obj, key);
}
}  // namespace

core::Result<std::string> opt_string(const Json& obj, std::string_view key, std::string_view path,
                                     std::string fallback) {
  const Json* v = find(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_string())
    return field_error(child_path(path, key), "expected a string, got " + core::json_excerpt(*v));
  return v->get_ref<const std::string&>();
}

core::Result<bool> opt_bool(const Json& obj, std::string_view key, std::string_view path,
                            bool fallback) {
  const Json* v = find(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean())
    return field_error(child_path(path, key), "expected a boolean, got " + core::json_excerpt(*v));
  return v->get<bool>();
}

core::Result<std::int64_t> opt_int(const Json& obj, std::string_view key, std::string_view path,
                                   std::int64_t fallback) {
  const Json* v = find(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer()) {
    return field_error(child_path(path, key), "expected an integer, got " + core::json_excerpt(*v));
  }
  return v->get<std::int64_t>();
}

core::Result<std::string> req_string(const Json& obj, std::string_view key, std::string_view path) {
  const Json* v = find(obj, key);
  if (v == nullptr) return field_error(child_path(path, key), "missing (a string is required)");
  if (!v->is_string())
    return field_error(child_path(path, key), "expected a string, got " + core::json_excerpt(*v));
  return v->get_ref<const std::string&>();
}

core::Result<const Json*> req_field(const Json& obj, std::string_view key, std::string_view path) {
  if (!obj.is_object())
    return field_error(path, "expected an object, got " + core::json_excerpt(obj));
  const Json* v = find(obj, key);
  if (v == nullptr) return field_error(child_path(path, key), "missing");
  return v;
}

core::Result<std::string> component_type(const Json& obj, std::string_view path) {
  if (!obj.is_object())
    return field_error(path, "expected an object, got " + core::json_excerpt(obj));
  return req_string(obj, "type", path);
}

}  // namespace mlxs::tokenizer
