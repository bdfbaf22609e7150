#pragma once
// Where a JSON constraint lets whitespace go. Compact (the default) allows
// none, which keeps sampled output short and never lets a model idle in
// whitespace. Python writes what json.dumps writes by default (", " between
// items, ": " after keys, nothing else). Flexible allows any JSON whitespace
// before every token (what JSON itself allows; MaskBench runs this way).

#include <cstdint>
#include <string_view>

namespace mlxs::guidance {

enum class Whitespace : std::uint8_t { kCompact, kPython, kFlexible };

inline constexpr std::string_view kJsonWhitespace = " \t\n\r";

// "compact" | "python" | "flexible"; false when unknown.
bool parse_whitespace(std::string_view name, Whitespace& out);
std::string_view whitespace_name(Whitespace ws);

}  // namespace mlxs::guidance
