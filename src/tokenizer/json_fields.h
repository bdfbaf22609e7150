#pragma once
// Field access for tokenizer.json / tokenizer_config.json that names the
// offending field ("model.merges[3]") in a TokenizerError.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::tokenizer {

using Json = nlohmann::json;

core::Status field_error(std::string_view path, std::string_view what);
std::string child_path(std::string_view path, std::string_view key);
std::string index_path(std::string_view path, std::size_t index);

// The member `key` of an object, or nullptr when absent or null.
const Json* find_field(const Json& obj, std::string_view key);

// Absent or null -> fallback; wrong type -> error naming path.key.
core::Result<std::string> opt_string(const Json& obj, std::string_view key, std::string_view path,
                                     std::string fallback = {});
core::Result<bool> opt_bool(const Json& obj, std::string_view key, std::string_view path,
                            bool fallback);
core::Result<std::int64_t> opt_int(const Json& obj, std::string_view key, std::string_view path,
                                   std::int64_t fallback);
// Present and a string.
core::Result<std::string> req_string(const Json& obj, std::string_view key, std::string_view path);
// Present (any type); returns a pointer into obj.
core::Result<const Json*> req_field(const Json& obj, std::string_view key, std::string_view path);
// The "type" tag of a component object.
core::Result<std::string> component_type(const Json& obj, std::string_view path);

}  // namespace mlxs::tokenizer
