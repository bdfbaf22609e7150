#pragma once
// JSON strings as byte automata. Constraints (length, pattern, format, enum)
// are automata over a string's CONTENT: its raw UTF-8, before escaping. A
// content automaton becomes a terminal by JSON-encoding it: the quotes, and
// the escapes for '"', '\' and control characters.
//
// Encoding policy: one spelling per string, the one json.dumps(ensure_ascii=
// False) and serde_json write: raw UTF-8 for everything from U+0020 up except
// '"' and '\'; \" \\ \b \f \n \r \t; \u00XX (lowercase hex) for the other
// control characters. A single spelling keeps object keys exact: a key cannot
// slip past a named property by being spelled differently.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "guidance/dfa.h"
#include "guidance/json_whitespace.h"

namespace mlxs::guidance {

// Every valid UTF-8 string.
const Dfa& utf8_any();
// Strings of min..max code points (max: nullopt = unbounded), valid UTF-8.
core::Result<Dfa> utf8_length(std::uint64_t min, std::optional<std::uint64_t> max);
// Exactly these strings.
core::Result<Dfa> string_values(const std::vector<std::string>& values);
// The terminal for strings whose content `content` accepts.
core::Result<Dfa> json_string_terminal(const Dfa& content, Whitespace ws);

// Literal text around a JSON string in one terminal (an object key with its
// separator and colon); `ws` lets whitespace precede the piece.
struct StringAffix {
  std::string text;
  bool ws = false;
};
// `before`, the quoted string (whitespace may precede the quote when `ws` is
// flexible), then `after`.
core::Result<Dfa> json_string_token(const Dfa& content, Whitespace ws,
                                    const std::vector<StringAffix>& before,
                                    const std::vector<StringAffix>& after);
// The canonical JSON spelling of a string, quotes included.
std::string json_quote(std::string_view content);

}  // namespace mlxs::guidance
