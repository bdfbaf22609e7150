#pragma once
// Reading JSON documents from files with coded errors, and typed field access
// that reports the field's path instead of throwing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::core {

using Json = nlohmann::json;

// Reads at most `max_bytes` (files larger than that are rejected, not read).
Result<std::string> read_file(const std::string& path, const std::string& display_name,
                              std::size_t max_bytes);

// Parses text; errors carry `code` and name `display_name` with the byte offset.
// Documents nested deeper than `max_depth` are rejected before parsing (deep
// nesting would otherwise exhaust the stack when the document is destroyed).
Result<Json> parse_json(std::string_view text, const std::string& display_name, ErrorCode code,
                        int max_depth = 512);

// The deepest nesting of arrays/objects in JSON text (strings skipped).
int json_nesting_depth(std::string_view text);

Result<Json> read_json_file(const std::string& path, const std::string& display_name,
                            ErrorCode code, std::size_t max_bytes = 64u << 20);

// Typed getters: absent -> nullopt; present with the wrong type -> error naming
// `context.key`. Integers must be exact (2.0 is accepted, 2.5 is not).
Result<std::optional<std::int64_t>> get_int(const Json& obj, std::string_view key,
                                            std::string_view context, ErrorCode code);
Result<std::optional<double>> get_number(const Json& obj, std::string_view key,
                                         std::string_view context, ErrorCode code);
Result<std::optional<bool>> get_bool(const Json& obj, std::string_view key,
                                     std::string_view context, ErrorCode code);
Result<std::optional<std::string>> get_string(const Json& obj, std::string_view key,
                                              std::string_view context, ErrorCode code);

// A short, safe rendering of a JSON value for error messages.
std::string json_excerpt(const Json& value, std::size_t max_chars = 60);

// Appends Python's json.dumps(value, ensure_ascii=False): ", " and ": "
// separators, object keys in the value's order (what benchmarks such as
// MaskBench feed a tokenizer).
void append_python_json(const nlohmann::ordered_json& value, std::string& out);

}  // namespace mlxs::core
