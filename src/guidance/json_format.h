#pragma once
// JSON Schema "format" names as content automata. Each is a regular subset
// of what the schema module's format check accepts (dates with real month
// lengths and leap days, times without leap seconds, dot-atom e-mail
// addresses, LDH host names short enough for the 253-byte limit, URIs
// without IP-literal hosts), so every generated value passes the check.

#include <string_view>

#include "core/status.h"
#include "guidance/dfa.h"

namespace mlxs::guidance {

// nullptr when the format is not one we know.
const Dfa* format_content(std::string_view name);

}  // namespace mlxs::guidance
