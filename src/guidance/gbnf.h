#pragma once
// GBNF grammars (llama.cpp's EBNF dialect) as grammars: `name ::= body`
// rules, "literals" with C-style escapes, [character classes] (ranges,
// negation), `.` (any character), rule references, ( groups ), `|`, and the
// postfix operators * + ? {m} {m,} {m,n} {,n}; `#` starts a comment. The
// start rule is `root`. Rules may span lines; a rule ends where the next
// `name ::=` begins.
//
// Parts that need no recursion (literals, classes, groups and repetitions of
// them, references to non-recursive rules) are joined into one byte automaton
// per maximal run, so a JSON string or a number is one terminal; the rest
// becomes productions for the Earley parser.

#include <memory>
#include <string_view>

#include "core/status.h"
#include "guidance/grammar.h"

namespace mlxs::guidance {

// GuidanceError with the line and column of a syntax error, or naming an
// undefined rule.
core::Result<std::shared_ptr<const Grammar>> gbnf_grammar(std::string_view text,
                                                          TerminalTable& terminals);

}  // namespace mlxs::guidance
