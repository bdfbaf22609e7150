#pragma once
// Recursive-descent parser for jinja2's grammar (same operator precedence
// and statement forms), producing an ast::Template. Filters and tests are
// resolved here, so an unknown one fails at compile time with its location.

#include <memory>
#include <vector>

#include "core/status.h"
#include "template/ast.h"
#include "template/lexer.h"

namespace mlxs::template_ {

struct ParseLimits {
  // Deepest nesting of statements and expressions; bounds recursion (and so
  // the stack) in the parser, the interpreter and the tree's destructor.
  int max_depth = 100;
};

core::Result<std::unique_ptr<ast::Template>> parse(const std::vector<Token>& tokens,
                                                   const ParseLimits& limits = {});

}  // namespace mlxs::template_
