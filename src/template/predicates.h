#pragma once
// jinja2's tests (`x is defined`, `x is string`, ...), looked up by name at
// compile time and by select/reject at run time.

#include <string_view>

#include "template/ast.h"

namespace mlxs::template_ {

// nullptr when there is no test of that name.
TestFn find_test(std::string_view name);

}  // namespace mlxs::template_
