#pragma once
// Short renderings for error messages: bounded work whatever the size of the
// value (a 100 000-value enum costs a few hundred bytes, not a dump), and
// always one line of valid UTF-8.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"

namespace mlxs::schema {

// Compact JSON of `value`, cut with "..." past about `max_chars`; non-ASCII
// is written as \u escapes, so the result is ASCII.
std::string json_excerpt(const core::Json& value, std::size_t max_chars = 80);
// The same for a list of values, written as an array.
std::string json_excerpt(const std::vector<core::Json>& values, std::size_t max_chars = 80);

// `text` on one line: control characters escaped, malformed UTF-8 replaced
// by U+FFFD, cut with "..." after `max_chars` code points.
std::string one_line(std::string_view text, std::size_t max_chars = 200);

}  // namespace mlxs::schema
