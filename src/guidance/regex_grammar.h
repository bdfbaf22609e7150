#pragma once
// A regex constraint as a grammar: the whole output must match the pattern
// (ECMAScript syntax, as in JSON Schema "pattern"), compiled to one automaton.

#include <memory>
#include <string_view>

#include "core/status.h"
#include "guidance/grammar.h"

namespace mlxs::guidance {

core::Result<std::shared_ptr<const Grammar>> regex_grammar(std::string_view pattern,
                                                           TerminalTable& terminals);

}  // namespace mlxs::guidance
