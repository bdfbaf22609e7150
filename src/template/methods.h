#pragma once
// Methods templates call on values: Python's str methods (strip, split,
// startswith, replace, format...), dict.items/keys/values/get, list.index/
// count, and the `loop` object's attributes and cycle()/changed().

#include <string_view>

#include "core/status.h"
#include "template/runtime.h"
#include "template/value.h"

namespace mlxs::template_ {

// The method `name` of obj's type, or nullptr.
Callable::Fn find_method(const Value& obj, std::string_view name);
// Methods the immutable sandbox refuses (list.append, dict.update, ...).
bool is_unsafe_method(const Value& obj, std::string_view name);
// loop.index, loop.first, ...; Undefined for unknown names.
Value loop_attribute(const Value& loop, std::string_view name);

}  // namespace mlxs::template_
