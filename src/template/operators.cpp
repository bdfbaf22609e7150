#include "template/operators.h"

#include <cmath>
#include <limits>

#include "template/interpreter.h"
#include "template/pyformat.h"
#include "template/runtime.h"

namespace mlxs::template_ {
namespace {

const char* symbol(ast::BinOp op) {
  switch (op) {
    case ast::BinOp::kAdd:
      return "+";
    case ast::BinOp::kSub:
      return "-";
    case ast::BinOp::kMul:
      return "*";
    case ast::BinOp::kDiv:
      return "/";
    case ast::BinOp::kFloorDiv:
      return "//";
    case ast::BinOp::kMod:
      return "%";
    case ast::BinOp::kPow:
      return "** or pow()";
  }
  return "?";
}

core::Status unsupported(ast::BinOp op, const Value& a, const Value& b) {
  return type_error("unsupported operand type(s) for " + std::string(symbol(op)) + ": '" +
                    type_name(a) + "' and '" + type_name(b) + "'");
}

core::Status overflow() {
  return type_error("integer overflow (templates compute with 64-bit integers)");
}

core::Result<Value> repeat(Interpreter& in, const Value& seq, std::int64_t times) {
  if (times <= 0)
    return seq.is_string()  ? Value::string("")
           : seq.is_tuple() ? Value::tuple({})
                            : Value::list({});
  const auto n = static_cast<std::uint64_t>(times);
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    MLXS_RETURN_IF_ERROR(in.charge(s.size() > UINT64_MAX / n ? UINT64_MAX : s.size() * n));
    std::string out;
    out.reserve(s.size() * n);
    for (std::uint64_t i = 0; i < n; ++i) out += s;
    return seq.is_markup() ? Value::markup(std::move(out)) : Value::string(std::move(out));
  }
  const List& items = seq.as_list();
  MLXS_RETURN_IF_ERROR(
      in.charge(items.size() > UINT64_MAX / 16 / n ? UINT64_MAX : items.size() * n * 16));
  const std::uint64_t total = items.size() * n;
  List out;
  out.reserve(total);
  for (std::uint64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

double py_floor_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  if (m == 0) m = std::copysign(0.0, b);
  return m;
}

// CPython's float floor division (via fmod, so it agrees with %).
double py_floor_div(double x, double y) {
  const double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, x / y);
  double floored = std::floor(div);
  if (div - floored > 0.5) floored += 1.0;
  return floored;
}

core::Result<Value> arithmetic(ast::BinOp op, const Value& a, const Value& b) {
  const bool use_float = a.is_float() || b.is_float();
  if (use_float || op == ast::BinOp::kDiv) {
    const double x = a.as_float();
    const double y = b.as_float();
    switch (op) {
      case ast::BinOp::kAdd:
        return Value::number(x + y);
      case ast::BinOp::kSub:
        return Value::number(x - y);
      case ast::BinOp::kMul:
        return Value::number(x * y);
      case ast::BinOp::kDiv:
        if (y == 0) return type_error(use_float ? "float division by zero" : "division by zero");
        return Value::number(x / y);
      case ast::BinOp::kFloorDiv:
        if (y == 0) return type_error("float floor division by zero");
        return Value::number(py_floor_div(x, y));
      case ast::BinOp::kMod:
        if (y == 0) return type_error("float modulo");
        return Value::number(py_floor_mod(x, y));
      case ast::BinOp::kPow:
        if (x == 0 && y < 0) return type_error("0.0 cannot be raised to a negative power");
        if (x < 0 && y != std::floor(y)) return type_error("complex results are not supported");
        return Value::number(std::pow(x, y));
    }
  }
  const std::int64_t x = a.as_int();
  const std::int64_t y = b.as_int();
  std::int64_t r = 0;
  switch (op) {
    case ast::BinOp::kAdd:
      if (__builtin_add_overflow(x, y, &r)) return overflow();
      return Value::integer(r);
    case ast::BinOp::kSub:
      if (__builtin_sub_overflow(x, y, &r)) return overflow();
      return Value::integer(r);
    case ast::BinOp::kMul:
      if (__builtin_mul_overflow(x, y, &r)) return overflow();
      return Value::integer(r);
    case ast::BinOp::kFloorDiv:
    case ast::BinOp::kMod: {
      if (y == 0) {
        return type_error(op == ast::BinOp::kMod ? "integer modulo by zero"
                                                 : "integer division or modulo by zero");
      }
      if (x == std::numeric_limits<std::int64_t>::min() && y == -1) {
        if (op == ast::BinOp::kMod) return Value::integer(0);
        return overflow();
      }
      std::int64_t q = x / y;
      std::int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        m += y;
        q -= 1;
      }
      return Value::integer(op == ast::BinOp::kMod ? m : q);
    }
    case ast::BinOp::kPow: {
      if (y < 0) {
        if (x == 0) return type_error("0.0 cannot be raised to a negative power");
        return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
      }
      std::int64_t result = 1;
      std::int64_t base = x;
      std::int64_t e = y;
      while (e > 0) {
        if ((e & 1) != 0 && __builtin_mul_overflow(result, base, &result)) return overflow();
        e >>= 1;
        if (e > 0 && __builtin_mul_overflow(base, base, &base)) return overflow();
      }
      return Value::integer(result);
    }
    case ast::BinOp::kDiv:
      break;  // handled above
  }
  return overflow();
}

// Python's total order within one kind; TypeError across kinds.
core::Result<int> order(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_float();
      const double y = b.as_float();
      if (std::isnan(x) || std::isnan(y)) return 2;  // unordered: every comparison false
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      MLXS_ASSIGN_OR_RETURN(const int c, order(x[i], y[i], op));
      return c;
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  return type_error("'" + std::string(op) + "' not supported between instances of '" +
                    type_name(a) + "' and '" + type_name(b) + "'");
}

}  // namespace

core::Status type_error(std::string message) {
  return core::Status(core::ErrorCode::kTemplateError, std::move(message));
}

core::Status undefined_error(const Value& v) {
  std::string message = v.undefined_message();
  if (message.empty()) message = "value is undefined";
  return type_error(std::move(message));
}

core::Result<Value> binary_op(Interpreter& in, ast::BinOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  // str % x runs before x's own operators (an Undefined may be a format argument).
  if (op == ast::BinOp::kMod && a.is_string()) {
    MLXS_ASSIGN_OR_RETURN(auto text, percent_format(in, a.as_string(), b, a.is_markup()));
    MLXS_RETURN_IF_ERROR(in.charge(text.size()));
    return a.is_markup() ? Value::markup(std::move(text)) : Value::string(std::move(text));
  }
  if (b.is_undefined()) return undefined_error(b);
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  switch (op) {
    case ast::BinOp::kAdd:
      if (a.is_string() && b.is_string()) {
        MLXS_RETURN_IF_ERROR(in.charge(a.as_string().size() + b.as_string().size()));
        if (a.is_markup() || b.is_markup()) {
          // Markup escapes the plain side, whichever side it is on.
          std::string out = a.is_markup() ? a.as_string() : html_escape(a.as_string());
          out += b.is_markup() ? b.as_string() : html_escape(b.as_string());
          return Value::markup(std::move(out));
        }
        std::string out;
        out.reserve(a.as_string().size() + b.as_string().size());
        out += a.as_string();
        out += b.as_string();
        return Value::string(std::move(out));
      }
      if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
        MLXS_RETURN_IF_ERROR(in.charge(16 * (a.as_list().size() + b.as_list().size())));
        List out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      if (a.is_string() || a.is_list() || a.is_tuple()) {
        return type_error("can only concatenate " + type_name(a) + " (not \"" + type_name(b) +
                          "\") to " + type_name(a));
      }
      return unsupported(op, a, b);
    case ast::BinOp::kMul:
      if ((a.is_string() || a.is_sequence()) && (b.is_int() || b.is_bool())) {
        return repeat(in, a, b.as_int());
      }
      if ((b.is_string() || b.is_sequence()) && (a.is_int() || a.is_bool())) {
        return repeat(in, b, a.as_int());
      }
      if (a.is_string() || a.is_sequence()) {
        return type_error("can't multiply sequence by non-int of type '" + type_name(b) + "'");
      }
      return unsupported(op, a, b);
    case ast::BinOp::kMod:
      if (a.is_string()) {
        MLXS_ASSIGN_OR_RETURN(auto text, percent_format(in, a.as_string(), b));
        MLXS_RETURN_IF_ERROR(in.charge(text.size()));
        return Value::string(std::move(text));
      }
      return unsupported(op, a, b);
    case ast::BinOp::kSub:
    case ast::BinOp::kDiv:
    case ast::BinOp::kFloorDiv:
    case ast::BinOp::kPow:
      return unsupported(op, a, b);
  }
  return unsupported(op, a, b);
}

core::Result<Value> negate(const Value& v) {
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_float()) return Value::number(-v.as_float());
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == std::numeric_limits<std::int64_t>::min()) return overflow();
    return Value::integer(-v.as_int());
  }
  return type_error("bad operand type for unary -: '" + type_name(v) + "'");
}

core::Result<Value> positive(const Value& v) {
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_float()) return v;
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  return type_error("bad operand type for unary +: '" + type_name(v) + "'");
}

core::Result<bool> contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kString:
      if (!item.is_string()) {
        if (item.is_undefined()) return undefined_error(item);
        return type_error("'in <string>' requires string as left operand, not " + type_name(item));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const auto& x : container.as_list()) {
        if (equals(x, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (item.is_sequence() && !item.is_tuple())
        return type_error("unhashable type: '" + type_name(item) + "'");
      if (item.is_dict()) return type_error("unhashable type: 'dict'");
      return container.as_dict().find(item) != nullptr;
    case Value::Kind::kGenerator: {
      // `in` consumes a generator up to the match, as Python's does.
      GeneratorState& g = container.as_generator();
      while (g.pos < g.items.size()) {
        if (equals(g.items[g.pos++], item)) return true;
      }
      core::Status pending = std::move(g.deferred);
      g.deferred = core::Status::ok();
      if (!pending.is_ok()) return pending;
      return false;
    }
    case Value::Kind::kUndefined:
      return false;  // iterating an Undefined yields nothing
    case Value::Kind::kLoop:
      return false;
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
      break;
  }
  return type_error("argument of type '" + type_name(container) + "' is not iterable");
}

core::Result<bool> less_than(const Value& a, const Value& b) {
  MLXS_ASSIGN_OR_RETURN(const int c, order(a, b, "<"));
  return c == -1;
}

core::Result<bool> compare(Interpreter& in, ast::CmpOp op, const Value& a, const Value& b) {
  // Deep comparisons walk both values.
  if (a.depth() > 0 || b.depth() > 0)
    MLXS_RETURN_IF_ERROR(in.charge(std::min(a.weight(), b.weight())));
  switch (op) {
    case ast::CmpOp::kEq:
      return equals(a, b);
    case ast::CmpOp::kNe:
      return !equals(a, b);
    case ast::CmpOp::kIn:
    case ast::CmpOp::kNotIn: {
      MLXS_RETURN_IF_ERROR(in.charge(b.weight()));
      MLXS_ASSIGN_OR_RETURN(const bool found, contains(b, a));
      return op == ast::CmpOp::kIn ? found : !found;
    }
    case ast::CmpOp::kLt: {
      MLXS_ASSIGN_OR_RETURN(const int c, order(a, b, "<"));
      return c == -1;
    }
    case ast::CmpOp::kLe: {
      MLXS_ASSIGN_OR_RETURN(const int c, order(a, b, "<="));
      return c == -1 || c == 0;
    }
    case ast::CmpOp::kGt: {
      MLXS_ASSIGN_OR_RETURN(const int c, order(a, b, ">"));
      return c == 1;
    }
    case ast::CmpOp::kGe: {
      MLXS_ASSIGN_OR_RETURN(const int c, order(a, b, ">="));
      return c == 1 || c == 0;
    }
  }
  return false;
}

}  // namespace mlxs::template_
