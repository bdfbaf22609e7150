#include "template/args.h"

#include <string>

#include "template/operators.h"

namespace mlxs::template_ {

core::Result<BoundArgs> BoundArgs::bind(std::string_view function, const CallArgs& args,
                                        std::initializer_list<std::string_view> names,
                                        std::size_t required) {
  BoundArgs bound;
  bound.function_ = std::string(function);
  bound.names_.assign(names.begin(), names.end());
  bound.values_.assign(names.size(), nullptr);
  if (args.positional.size() > names.size()) {
    return type_error(bound.function_ + "() takes at most " + std::to_string(names.size()) +
                      " argument" + (names.size() == 1 ? "" : "s") + " (" +
                      std::to_string(args.positional.size()) + " given)");
  }
  for (std::size_t i = 0; i < args.positional.size(); ++i) bound.values_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keywords) {
    std::size_t i = 0;
    while (i < bound.names_.size() && bound.names_[i] != key) ++i;
    if (i == bound.names_.size()) {
      return type_error(bound.function_ + "() got an unexpected keyword argument '" + key + "'");
    }
    if (bound.values_[i] != nullptr) {
      return type_error(bound.function_ + "() got multiple values for argument '" + key + "'");
    }
    bound.values_[i] = &value;
  }
  for (std::size_t i = 0; i < required; ++i) {
    if (bound.values_[i] == nullptr) {
      return type_error(bound.function_ + "() missing required argument '" +
                        std::string(bound.names_[i]) + "'");
    }
  }
  return bound;
}

const Value& BoundArgs::get(std::size_t i) const {
  static const Value kUndefined;
  return has(i) ? *values_[i] : kUndefined;
}

core::Result<std::int64_t> BoundArgs::integer(std::size_t i, std::int64_t fallback) const {
  if (!has(i) || values_[i]->is_none()) return fallback;
  const Value& v = *values_[i];
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_undefined()) return undefined_error(v);
  return type_error(function_ + "(): '" + std::string(names_[i]) + "' must be an integer, not " +
                    type_name(v));
}

core::Result<bool> BoundArgs::boolean(std::size_t i, bool fallback) const {
  if (!has(i)) return fallback;
  return truthy(*values_[i]);
}

core::Result<bool> BoundArgs::int_flag(std::size_t i, bool fallback) const {
  if (!has(i)) return fallback;
  const Value& v = *values_[i];
  if (v.is_int() || v.is_bool()) return v.as_int() != 0;
  return type_error("'" + type_name(v) + "' object cannot be interpreted as an integer");
}

core::Result<std::string> BoundArgs::string(std::size_t i, std::string fallback) const {
  if (!has(i)) return fallback;
  const Value& v = *values_[i];
  if (v.is_string()) return v.as_string();
  if (v.is_undefined()) return std::string();
  return type_error(function_ + "(): '" + std::string(names_[i]) + "' must be a string, not " +
                    type_name(v));
}

}  // namespace mlxs::template_
