#include "template/predicates.h"

#include "template/args.h"
#include "template/filters.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/unicode.h"

namespace mlxs::template_ {
namespace {

core::Result<const Value*> one_arg(std::string_view name, const CallArgs& args) {
  if (args.positional.size() != 1 || !args.keywords.empty()) {
    return type_error("test '" + std::string(name) + "' takes exactly one argument");
  }
  return &args.positional[0];
}

core::Status no_args(std::string_view name, const CallArgs& args) {
  if (!args.positional.empty() || !args.keywords.empty()) {
    return type_error("test '" + std::string(name) + "' takes no arguments");
  }
  return core::Status::ok();
}

// value % n, with Python's operator (floats work; strings mean %-formatting).
core::Result<Value> modulo(Interpreter& in, const Value& v, const Value& n) {
  return binary_op(in, ast::BinOp::kMod, v, n);
}

#define SIMPLE_TEST(fn, name, expr)                                           \
  core::Result<bool> fn(Interpreter&, const Value& v, const CallArgs& args) { \
    MLXS_RETURN_IF_ERROR(no_args(name, args));                                \
    return (expr);                                                            \
  }

SIMPLE_TEST(t_defined, "defined", !v.is_undefined())
SIMPLE_TEST(t_undefined, "undefined", v.is_undefined())
SIMPLE_TEST(t_none, "none", v.is_none())
SIMPLE_TEST(t_boolean, "boolean", v.is_bool())
SIMPLE_TEST(t_false, "false", v.is_bool() && !v.as_bool())
SIMPLE_TEST(t_true, "true", v.is_bool() && v.as_bool())
SIMPLE_TEST(t_integer, "integer", v.is_int())
SIMPLE_TEST(t_float, "float", v.is_float())
SIMPLE_TEST(t_number, "number", v.is_number())
SIMPLE_TEST(t_string, "string", v.is_string())
SIMPLE_TEST(t_mapping, "mapping", v.is_dict())
// Python: len() and __getitem__ exist (Undefined has both).
SIMPLE_TEST(t_sequence, "sequence",
            v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined())
SIMPLE_TEST(t_iterable, "iterable",
            v.is_string() || v.is_sequence() || v.is_generator() || v.is_dict() ||
                v.is_undefined() || v.is_loop())
SIMPLE_TEST(t_callable, "callable", v.is_callable() || v.is_undefined() || v.is_loop())
SIMPLE_TEST(t_escaped, "escaped", v.is_markup())
#undef SIMPLE_TEST

core::Result<bool> t_lower(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(no_args("lower", args));
  MLXS_ASSIGN_OR_RETURN(auto s, in.str(v));
  return unicode::is_lower(s);
}

core::Result<bool> t_upper(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(no_args("upper", args));
  MLXS_ASSIGN_OR_RETURN(auto s, in.str(v));
  return unicode::is_upper(s);
}

core::Result<bool> t_odd(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(no_args("odd", args));
  MLXS_ASSIGN_OR_RETURN(auto m, modulo(in, v, Value::integer(2)));
  return equals(m, Value::integer(1));
}

core::Result<bool> t_even(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(no_args("even", args));
  MLXS_ASSIGN_OR_RETURN(auto m, modulo(in, v, Value::integer(2)));
  return equals(m, Value::integer(0));
}

core::Result<bool> t_divisibleby(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(const Value* num, one_arg("divisibleby", args));
  MLXS_ASSIGN_OR_RETURN(auto m, modulo(in, v, *num));
  return equals(m, Value::integer(0));
}

core::Result<bool> t_sameas(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(const Value* other, one_arg("sameas", args));
  if (v.kind() != other->kind()) return false;
  switch (v.kind()) {
    case Value::Kind::kNone:
    case Value::Kind::kUndefined:
      return true;
    case Value::Kind::kBool:
      return v.as_bool() == other->as_bool();
    case Value::Kind::kInt:  // CPython caches small ints: `is` holds for them
      return v.as_int() == other->as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Value::Kind::kFloat:
    case Value::Kind::kString:
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kGenerator:
    case Value::Kind::kDict:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
    case Value::Kind::kLoop:
      return v.identity() != nullptr && v.identity() == other->identity();
  }
  return false;
}

core::Result<bool> t_in(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(const Value* seq, one_arg("in", args));
  return contains(*seq, v);
}

core::Result<bool> t_filter(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(no_args("filter", args));
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}

core::Result<bool> t_test(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(no_args("test", args));
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

template <ast::CmpOp Op>
core::Result<bool> t_compare(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(const Value* other, one_arg("comparison", args));
  return compare(in, Op, v, *other);
}

struct Entry {
  std::string_view name;
  TestFn fn;
};

constexpr Entry kTests[] = {
    {"odd", t_odd},
    {"even", t_even},
    {"divisibleby", t_divisibleby},
    {"defined", t_defined},
    {"undefined", t_undefined},
    {"filter", t_filter},
    {"test", t_test},
    {"none", t_none},
    {"boolean", t_boolean},
    {"false", t_false},
    {"true", t_true},
    {"integer", t_integer},
    {"float", t_float},
    {"lower", t_lower},
    {"upper", t_upper},
    {"string", t_string},
    {"mapping", t_mapping},
    {"number", t_number},
    {"sequence", t_sequence},
    {"iterable", t_iterable},
    {"callable", t_callable},
    {"sameas", t_sameas},
    {"escaped", t_escaped},
    {"in", t_in},
    {"==", t_compare<ast::CmpOp::kEq>},
    {"eq", t_compare<ast::CmpOp::kEq>},
    {"equalto", t_compare<ast::CmpOp::kEq>},
    {"!=", t_compare<ast::CmpOp::kNe>},
    {"ne", t_compare<ast::CmpOp::kNe>},
    {">", t_compare<ast::CmpOp::kGt>},
    {"gt", t_compare<ast::CmpOp::kGt>},
    {"greaterthan", t_compare<ast::CmpOp::kGt>},
    {">=", t_compare<ast::CmpOp::kGe>},
    {"ge", t_compare<ast::CmpOp::kGe>},
    {"<", t_compare<ast::CmpOp::kLt>},
    {"lt", t_compare<ast::CmpOp::kLt>},
    {"lessthan", t_compare<ast::CmpOp::kLt>},
    {"<=", t_compare<ast::CmpOp::kLe>},
    {"le", t_compare<ast::CmpOp::kLe>},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& e : kTests) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace mlxs::template_
