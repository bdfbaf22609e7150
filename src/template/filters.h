#pragma once
// jinja2's built-in filters (plus transformers' tojson), looked up by name
// when a template is compiled.

#include <string_view>

#include "template/ast.h"

namespace mlxs::template_ {

// nullptr when there is no filter of that name.
FilterFn find_filter(std::string_view name);

}  // namespace mlxs::template_
