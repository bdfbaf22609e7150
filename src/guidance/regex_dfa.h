#pragma once
// ECMAScript regexes (the schema module's compiled program, a Thompson NFA
// over code points) as byte DFAs over UTF-8: JSON Schema "pattern" (search:
// the pattern may match anywhere), and regex constraints (the whole output
// must match). ^ and $ are exact (no multiline flag); \b and \B have no
// automaton here and are refused.

#include <cstddef>
#include <string_view>

#include "core/status.h"
#include "guidance/dfa.h"
#include "schema/regex.h"

namespace mlxs::guidance {

enum class RegexMode : std::uint8_t { kSearch, kFullMatch };

// GuidanceError naming the problem (no path: callers add it).
core::Result<Dfa> regex_to_dfa(const schema::Regex& regex, RegexMode mode,
                               std::size_t max_states = 1u << 15);
// Compiles `pattern` with the schema module first.
core::Result<Dfa> regex_to_dfa(std::string_view pattern, RegexMode mode,
                               std::size_t max_states = 1u << 15);

}  // namespace mlxs::guidance
