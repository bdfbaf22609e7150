#pragma once
// UTF-8 helpers with Python's str semantics: templates index, slice and
// measure strings in code points, and strip/upper/lower as CPython does.
// Invalid bytes never fail: each decodes to a lone "escape" code point
// (0xDC80 + byte) that encodes back to the same byte, so text round-trips.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mlxs::template_::unicode {

// Decodes the code point at s[pos] and advances pos past it.
char32_t decode(std::string_view s, std::size_t& pos);
void append(std::string& out, char32_t cp);

std::vector<char32_t> code_points(std::string_view s);
std::string encode(const char32_t* begin, const char32_t* end);
inline std::string encode(const std::vector<char32_t>& cps) {
  return encode(cps.data(), cps.data() + cps.size());
}
std::size_t length(std::string_view s);
// Byte offset of code point `index` (clamped to s.size()).
std::size_t byte_offset(std::string_view s, std::size_t index);

bool is_space(char32_t cp);  // str.isspace
bool is_cased(char32_t cp);
bool is_lower_cp(char32_t cp);
bool is_upper_cp(char32_t cp);
bool is_printable(char32_t cp);  // str.isprintable for one code point

std::string upper(std::string_view s);       // str.upper
std::string lower(std::string_view s);       // str.lower (with final sigma)
std::string title(std::string_view s);       // str.title
std::string capitalize(std::string_view s);  // str.capitalize
std::string swapcase(std::string_view s);    // str.swapcase
// str.islower / str.isupper: at least one cased char and no char of the other case.
bool is_lower(std::string_view s);
bool is_upper(std::string_view s);

// str.strip family; chars == nullptr strips whitespace (str.isspace).
std::string_view strip(std::string_view s, const std::string_view* chars, bool left, bool right);

}  // namespace mlxs::template_::unicode
