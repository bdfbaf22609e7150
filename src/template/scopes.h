#pragma once
// jinja2 resolves variable names when it compiles a template, scope by scope
// (the template, each loop body, macro, {% with %}, {% filter %} and block
// {% set %}). A name a scope assigns gets one binding for the whole scope,
// and what that binding holds before the assignment runs depends on the text:
// if the scope's first mention of the name is an unconditional assignment and
// no enclosing scope mentions it, the binding starts Undefined, so a loop or
// macro that reads it earlier sees Undefined rather than the context's value.
// Otherwise it starts as the outer value. This pass records, per scope, the
// names that start Undefined (ast `locals`).

#include "template/ast.h"

namespace mlxs::template_ {

void analyze_scopes(ast::Template& tmpl);

}  // namespace mlxs::template_
