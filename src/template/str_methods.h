#pragma once
// Python's str methods, as bound methods templates call (`s.strip('\n')`).

#include <string_view>

#include "template/runtime.h"

namespace mlxs::template_ {

Callable::Fn find_str_method(std::string_view name);

// Shared with filters: str.replace, str.split semantics.
std::string py_replace(const std::string& s, const std::string& old, const std::string& repl,
                       std::int64_t count);
List py_split(const std::string& s, const std::string* sep, std::int64_t maxsplit);
List py_splitlines(const std::string& s, bool keepends);

}  // namespace mlxs::template_
