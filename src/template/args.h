#pragma once
// Python-style binding of call arguments to a builtin's parameter list, with
// Python's error messages ("replace() got an unexpected keyword argument").

#include <initializer_list>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "template/value.h"

namespace mlxs::template_ {

class BoundArgs {
 public:
  // `names` are the parameters in order; the first `required` must be given.
  static core::Result<BoundArgs> bind(std::string_view function, const CallArgs& args,
                                      std::initializer_list<std::string_view> names,
                                      std::size_t required = 0);

  bool has(std::size_t i) const { return values_[i] != nullptr; }
  // The argument, or `fallback` when not given.
  Value get(std::size_t i, const Value& fallback) const { return has(i) ? *values_[i] : fallback; }
  const Value& get(std::size_t i) const;  // Undefined when not given
  // Typed accessors: errors name the function and parameter.
  core::Result<std::int64_t> integer(std::size_t i, std::int64_t fallback) const;
  core::Result<bool> boolean(std::size_t i, bool fallback) const;  // any value, by truthiness
  // A flag Python reads as an integer (sorted's `reverse`): bool or int only.
  core::Result<bool> int_flag(std::size_t i, bool fallback) const;
  core::Result<std::string> string(std::size_t i, std::string fallback) const;

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<const Value*> values_;
};

}  // namespace mlxs::template_
