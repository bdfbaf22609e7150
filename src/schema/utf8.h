#pragma once
// UTF-8 over code points: JSON Schema counts string lengths in code points and
// the regex engine matches code points, not bytes.

#include <cstddef>
#include <string>
#include <string_view>

namespace mlxs::schema::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

// Decodes the code point at `pos` and advances past it. A malformed sequence
// decodes as U+FFFD and advances one byte, so every input terminates.
char32_t decode(std::string_view text, std::size_t& pos);

std::size_t count_code_points(std::string_view text);

// Appends the UTF-8 encoding of `cp` (surrogates and values past U+10FFFF are
// written as U+FFFD).
void append(std::string& out, char32_t cp);

// True when `text` is well-formed UTF-8 (no surrogates, no overlong forms).
bool is_valid(std::string_view text);

}  // namespace mlxs::schema::utf8
