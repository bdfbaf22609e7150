#include "template/filters.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "template/args.h"
#include "template/interpreter.h"
#include "template/json_dump.h"
#include "template/operators.h"
#include "template/pyformat.h"
#include "template/str_methods.h"
#include "template/unicode.h"

namespace mlxs::template_ {
namespace {

// ----------------------------------------------------------------- helpers

core::Result<std::string> soft_str(Interpreter& in, const Value& v) {
  return in.str(v);
}

// Markup's str methods return Markup, so filters built on them keep it.
Value like(const Value& input, std::string text) {
  return input.is_markup() ? Value::markup(std::move(text)) : Value::string(std::move(text));
}

Value ignore_case(const Value& v) {
  return v.is_string() ? Value::string(unicode::lower(v.as_string())) : v;
}

core::Result<std::int64_t> py_len(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kString:
      return static_cast<std::int64_t>(unicode::length(v.as_string()));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return static_cast<std::int64_t>(v.as_list().size());
    case Value::Kind::kDict:
      return static_cast<std::int64_t>(v.as_dict().size());
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kLoop:
      return v.as_loop().length;
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kGenerator:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
      break;
  }
  return type_error("object of type '" + type_name(v) + "' has no len()");
}

// jinja2's make_attrgetter: "a.b.0" walks getitem, digits become ints.
struct AttrPath {
  std::vector<Value> parts;
};

AttrPath attr_path(const Value& attribute) {
  AttrPath path;
  if (attribute.is_none() || attribute.is_undefined()) return path;
  if (!attribute.is_string()) {
    path.parts.push_back(attribute);
    return path;
  }
  const std::string& s = attribute.as_string();
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string part =
        s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && part.size() < 18 &&
                        part.find_first_not_of("0123456789") == std::string::npos;
    path.parts.push_back(digits ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return path;
}

core::Result<Value> get_path(Interpreter& in, Value item, const AttrPath& path,
                             const Value* dflt = nullptr) {
  for (const auto& part : path.parts) {
    MLXS_ASSIGN_OR_RETURN(item, in.getitem(item, part));
    if (dflt != nullptr && !dflt->is_none() && item.is_undefined()) item = *dflt;
  }
  return item;
}

// Stable sort whose comparison may fail (Python's TypeError on mixed types).
template <typename T, typename Less>
core::Status stable_sort(std::vector<T>& items, Less less) {
  core::Status error;
  std::stable_sort(items.begin(), items.end(), [&](const T& a, const T& b) {
    if (!error.is_ok()) return false;
    auto r = less(a, b);
    if (!r) {
      error = r.status();
      return false;
    }
    return r.value();
  });
  return error;
}

core::Result<bool> list_less(const List& a, const List& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (equals(a[i], b[i])) continue;
    return less_than(a[i], b[i]);
  }
  return a.size() < b.size();
}

// Python's float(str): optional whitespace, sign, digits with single
// underscores, inf/nan.
std::optional<double> parse_py_float(const std::string& text) {
  const std::string_view t = unicode::strip(text, nullptr, true, true);
  std::string clean;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '_') {
      const bool ok = i > 0 && i + 1 < t.size() &&
                      std::isdigit(static_cast<unsigned char>(t[i - 1])) &&
                      std::isdigit(static_cast<unsigned char>(t[i + 1]));
      if (!ok) return std::nullopt;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '-'))
      return std::nullopt;
    clean.push_back(c);
  }
  if (clean.empty()) return std::nullopt;
  std::string lower = unicode::lower(clean);
  const std::string_view body =
      lower[0] == '+' || lower[0] == '-' ? std::string_view(lower).substr(1) : lower;
  if (body == "inf" || body == "infinity" || body == "nan") {
    const double v = body == "nan" ? std::numeric_limits<double>::quiet_NaN()
                                   : std::numeric_limits<double>::infinity();
    return lower[0] == '-' ? -v : v;
  }
  if (body.find_first_not_of("0123456789.e+-") != std::string_view::npos) return std::nullopt;
  if (body.find_first_of("0123456789") == std::string_view::npos) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return v;
}

// Python's int(str, base).
std::optional<std::int64_t> parse_py_int(const std::string& text, int base) {
  std::string_view t = unicode::strip(text, nullptr, true, true);
  bool neg = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.size() > 2 && t[0] == '0') {
    const char p = static_cast<char>(t[1] | 0x20);
    const int prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed != 0 && (base == prefixed || base == 0)) {
      base = prefixed;
      t.remove_prefix(2);
      if (!t.empty() && t[0] == '_') t.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (t.empty() || t[0] == '_' || t.back() == '_') return std::nullopt;
  unsigned long long v = 0;
  bool prev_underscore = false;
  for (const char c : t) {
    if (c == '_') {
      if (prev_underscore) return std::nullopt;
      prev_underscore = true;
      continue;
    }
    prev_underscore = false;
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') d = (c | 0x20) - 'a' + 10;
    if (d < 0 || d >= base) return std::nullopt;
    if (v > (static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max()) -
             static_cast<unsigned>(d)) /
                static_cast<unsigned>(base)) {
      return std::nullopt;  // beyond 64 bits: treated as not convertible
    }
    v = v * static_cast<unsigned>(base) + static_cast<unsigned>(d);
  }
  const auto s = static_cast<std::int64_t>(v);
  return neg ? -s : s;
}

// jinja2's generator filters run their body only when first iterated, so
// every error of the body is deferred to the consumer.
template <typename Body>
Value deferred_generator(const char* function, Body body) {
  List out;
  core::Status status = body(out);
  return make_generator(function, std::move(out), std::move(status));
}

// Iterates a filter's input; a generator input's pending error is returned
// after its items, as the filter would meet it.
template <typename Each>
core::Status for_each_item(const Value& v, Each each) {
  MLXS_ASSIGN_OR_RETURN(auto it, iterate_partial(v));
  for (auto& item : it.items) MLXS_RETURN_IF_ERROR(each(std::move(item)));
  return it.deferred;
}

// ------------------------------------------------------------------ filters

core::Result<Value> f_abs(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("abs", args, {}).status());
  if (v.is_float()) return Value::number(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == std::numeric_limits<std::int64_t>::min())
      return type_error("integer overflow");
    return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (v.is_undefined()) return undefined_error(v);
  return type_error("bad operand type for abs(): '" + type_name(v) + "'");
}

core::Result<Value> f_attr(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("attr", args, {"name"}, 1));
  if (!b.get(0).is_string()) return type_error("attribute name must be string");
  const std::string& name = b.get(0).as_string();
  // Only real attributes: a dict's keys are not attributes.
  if (v.is_dict() || v.is_list() || v.is_tuple() || v.is_string()) {
    MLXS_ASSIGN_OR_RETURN(auto r, in.getattr(v, name));
    if (v.is_dict() && !r.is_callable() && !r.is_undefined()) {
      return Value::undefined("'dict object' has no attribute '" + name + "'");
    }
    return r;
  }
  return in.getattr(v, name);
}

core::Result<Value> f_batch(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("batch", args, {"linecount", "fill_with"}, 1));
  return deferred_generator("do_batch", [&](List& out) -> core::Status {
    MLXS_ASSIGN_OR_RETURN(const std::int64_t n, b.integer(0, 1));
    if (n <= 0) return type_error("batch size must be positive");
    List row;
    MLXS_RETURN_IF_ERROR(for_each_item(v, [&](Value item) -> core::Status {
      if (static_cast<std::int64_t>(row.size()) == n) {
        out.push_back(Value::list(std::move(row)));
        row.clear();
      }
      row.push_back(std::move(item));
      return core::Status::ok();
    }));
    if (!row.empty()) {
      if (b.has(1) && !b.get(1).is_none()) {
        MLXS_RETURN_IF_ERROR(in.charge(16 * static_cast<std::uint64_t>(n)));
        while (static_cast<std::int64_t>(row.size()) < n) row.push_back(b.get(1));
      }
      out.push_back(Value::list(std::move(row)));
    }
    return core::Status::ok();
  });
}

core::Result<Value> f_capitalize(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("capitalize", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  return like(v, unicode::capitalize(s));
}

core::Result<Value> f_center(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("center", args, {"width"}));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t width, b.integer(0, 80));
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  CallArgs inner;
  inner.positional.push_back(Value::integer(width));
  MLXS_ASSIGN_OR_RETURN(auto method, in.getattr(Value::string(std::move(s)), "center"));
  return in.call(method, inner);
}

core::Result<Value> f_length(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("length", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(const std::int64_t n, py_len(v));
  return Value::integer(n);
}

core::Result<Value> f_default(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("default", args, {"default_value", "boolean"}));
  MLXS_ASSIGN_OR_RETURN(const bool boolean, b.boolean(1, false));
  if (v.is_undefined() || (boolean && !truthy(v))) return b.get(0, Value::string(""));
  return v;
}

core::Result<Value> f_dictsort(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b,
                        BoundArgs::bind("dictsort", args, {"case_sensitive", "by", "reverse"}));
  MLXS_ASSIGN_OR_RETURN(const bool case_sensitive, b.boolean(0, false));
  MLXS_ASSIGN_OR_RETURN(const std::string by, b.string(1, "key"));
  MLXS_ASSIGN_OR_RETURN(const bool reverse, b.int_flag(2, false));
  if (by != "key" && by != "value")
    return type_error("You can only sort by either \"key\" or \"value\"");
  if (!v.is_dict()) {
    if (v.is_undefined()) return undefined_error(v);
    return type_error("'" + type_name(v) + "' object has no attribute 'items'");
  }
  const std::size_t pos = by == "key" ? 0 : 1;
  std::vector<std::pair<Value, Value>> items = v.as_dict().items;
  const auto key = [&](const std::pair<Value, Value>& item) {
    const Value& k = pos == 0 ? item.first : item.second;
    return case_sensitive ? k : ignore_case(k);
  };
  // Like Python's sorted(reverse=True): descending, equal keys keep their order.
  MLXS_RETURN_IF_ERROR(stable_sort(items, [&](const auto& a, const auto& c) -> core::Result<bool> {
    return reverse ? less_than(key(c), key(a)) : less_than(key(a), key(c));
  }));
  List out;
  for (auto& [k, val] : items) out.push_back(Value::tuple({k, val}));
  return Value::list(std::move(out));
}

core::Result<Value> f_escape(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("escape", args, {}).status());
  if (v.is_markup()) return v;  // already safe
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  return Value::markup(html_escape(s));
}

core::Result<Value> f_forceescape(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("forceescape", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  return Value::markup(html_escape(s));
}

core::Result<Value> f_first(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("first", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto item, first_item(v));
  if (!item) return Value::undefined("No first item, sequence was empty.");
  return std::move(*item);
}

core::Result<Value> f_last(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("last", args, {}).status());
  if (v.is_generator()) return type_error("'" + type_name(v) + "' object is not reversible");
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

core::Result<Value> f_float(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("float", args, {"default"}));
  const Value dflt = b.get(0, Value::number(0.0));
  if (v.is_number()) return Value::number(v.as_float());
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_string()) {
    if (auto f = parse_py_float(v.as_string())) return Value::number(*f);
  }
  return dflt;
}

core::Result<Value> f_format(Interpreter& in, const Value& v, const CallArgs& args) {
  if (!args.positional.empty() && !args.keywords.empty()) {
    return type_error("can't handle positional and keyword arguments at the same time");
  }
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  Value params;
  if (!args.keywords.empty()) {
    Dict d;
    for (const auto& [k, val] : args.keywords) d.set(Value::string(k), val);
    params = Value::dict(std::move(d));
  } else {
    params = Value::tuple(args.positional);
  }
  MLXS_ASSIGN_OR_RETURN(auto text, percent_format(in, s, params, v.is_markup()));
  MLXS_RETURN_IF_ERROR(in.charge(text.size()));
  return like(v, std::move(text));
}

// groupby(attribute, default=none, case_sensitive=false): sorted by the
// attribute, then runs of equal keys as (grouper, list) pairs.
core::Result<Value> f_groupby(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(
      auto b, BoundArgs::bind("groupby", args, {"attribute", "default", "case_sensitive"}, 1));
  MLXS_ASSIGN_OR_RETURN(const bool case_sensitive, b.boolean(2, false));
  const AttrPath path = attr_path(b.get(0));
  const Value dflt = b.get(1, Value::none());
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  std::vector<std::pair<Value, Value>> keyed;  // (sort key, item)
  for (auto& item : items) {
    MLXS_ASSIGN_OR_RETURN(auto k, get_path(in, item, path, &dflt));
    keyed.emplace_back(case_sensitive ? k : ignore_case(k), std::move(item));
  }
  MLXS_RETURN_IF_ERROR(
      stable_sort(keyed, [](const auto& a, const auto& c) { return less_than(a.first, c.first); }));
  List out;
  for (std::size_t i = 0; i < keyed.size();) {
    std::size_t j = i + 1;
    while (j < keyed.size() && equals(keyed[j].first, keyed[i].first)) ++j;
    List members;
    for (std::size_t k = i; k < j; ++k) members.push_back(keyed[k].second);
    Value grouper = keyed[i].first;
    if (!case_sensitive) {  // jinja2 shows the first member's own spelling
      MLXS_ASSIGN_OR_RETURN(grouper, get_path(in, members.front(), path, &dflt));
    }
    out.push_back(Value::group(std::move(grouper), std::move(members)));
    i = j;
  }
  return Value::list(std::move(out));
}

core::Result<Value> f_indent(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("indent", args, {"width", "first", "blank"}));
  std::string indention;
  if (b.has(0) && b.get(0).is_string()) {
    indention = b.get(0).as_string();
  } else {
    MLXS_ASSIGN_OR_RETURN(const std::int64_t width, b.integer(0, 4));
    if (width > (1 << 16)) return type_error("indent width too large");
    indention.assign(static_cast<std::size_t>(std::max<std::int64_t>(width, 0)), ' ');
  }
  MLXS_ASSIGN_OR_RETURN(const bool first, b.boolean(1, false));
  MLXS_ASSIGN_OR_RETURN(const bool blank, b.boolean(2, false));
  // jinja2 appends "\n" to the value itself (no str()), so only strings work.
  if (!v.is_string()) {
    if (v.is_undefined()) return undefined_error(v);
    if (v.is_list()) return type_error("'list' object has no attribute 'splitlines'");
    if (v.is_tuple()) return type_error("can only concatenate tuple (not \"str\") to tuple");
    return type_error("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  }
  std::string s = v.as_string();
  s += "\n";  // jinja2's quirk before splitlines
  const List lines = py_splitlines(s, false);
  MLXS_RETURN_IF_ERROR(in.charge(s.size() + lines.size() * (indention.size() + 1)));
  std::string rv;
  if (blank) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) rv += "\n" + indention;
      rv += lines[i].as_string();
    }
  } else {
    rv = lines.empty() ? std::string() : lines[0].as_string();
    for (std::size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].as_string().empty()) rv += indention;
      rv += lines[i].as_string();
    }
  }
  if (first) rv = indention + rv;
  return like(v, std::move(rv));
}

core::Result<Value> f_int(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("int", args, {"default", "base"}));
  const Value dflt = b.get(0, Value::integer(0));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t base, b.integer(1, 10));
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    const double f = v.as_float();
    if (std::isinf(f)) return type_error("cannot convert float infinity to integer");
    if (std::isnan(f)) return dflt;
    if (std::fabs(f) >= 9.2e18) return type_error("integer overflow");
    return Value::integer(static_cast<std::int64_t>(f));
  }
  if (v.is_string()) {
    if (base != 0 && (base < 2 || base > 36))
      return type_error("int() base must be >= 2 and <= 36, or 0");
    if (auto i = parse_py_int(v.as_string(), static_cast<int>(base))) return Value::integer(*i);
    if (auto f = parse_py_float(v.as_string())) {
      if (std::isnan(*f) || std::isinf(*f) || std::fabs(*f) >= 9.2e18) return dflt;
      return Value::integer(static_cast<std::int64_t>(*f));
    }
  }
  return dflt;
}

core::Result<Value> f_items(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("items", args, {}).status());
  return deferred_generator("do_items", [&](List& out) -> core::Status {
    if (v.is_undefined()) return core::Status::ok();
    if (!v.is_dict()) return type_error("Can only get item pairs from a mapping.");
    for (const auto& [k, val] : v.as_dict().items) out.push_back(Value::tuple({k, val}));
    return core::Status::ok();
  });
}

core::Result<Value> f_join(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("join", args, {"d", "attribute"}));
  MLXS_ASSIGN_OR_RETURN(auto sep, soft_str(in, b.get(0, Value::string(""))));
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  const AttrPath path = attr_path(b.get(1, Value::none()));
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (!path.parts.empty()) {
      MLXS_ASSIGN_OR_RETURN(item, get_path(in, item, path));
    }
    MLXS_ASSIGN_OR_RETURN(auto text, soft_str(in, item));
    if (i > 0) out += sep;
    out += text;
    if (out.size() > in.options().limits.max_output_bytes)
      return type_error("joined string too long");
  }
  MLXS_RETURN_IF_ERROR(in.charge(out.size()));
  return Value::string(std::move(out));
}

core::Result<Value> f_list(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("list", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  return Value::list(std::move(items));
}

core::Result<Value> f_lower(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("lower", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  return like(v, unicode::lower(s));
}

core::Result<Value> f_upper(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("upper", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  return like(v, unicode::upper(s));
}

// jinja2's title: words start after runs of "-", whitespace, "(", "{", "[" or "<".
core::Result<Value> f_title(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("title", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  const auto cps = unicode::code_points(s);
  const auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || unicode::is_space(c);
  };
  std::string out;
  std::size_t i = 0;
  while (i < cps.size()) {
    std::size_t j = i;
    const bool sep = is_sep(cps[i]);
    while (j < cps.size() && is_sep(cps[j]) == sep) ++j;
    const std::string chunk = unicode::encode(cps.data() + i, cps.data() + j);
    if (sep) {
      out += chunk;
    } else {
      std::size_t p = 0;
      unicode::decode(chunk, p);
      out += unicode::upper(chunk.substr(0, p));
      out += unicode::lower(chunk.substr(p));
    }
    i = j;
  }
  return Value::string(std::move(out));
}

// map('filter', args...) or map(attribute='x', default=...).
core::Result<Value> f_map(Interpreter& in, const Value& v, const CallArgs& args) {
  return deferred_generator("sync_do_map", [&](List& out) -> core::Status {
    if (!truthy(v)) return core::Status::ok();
    const auto attr_it = std::find_if(args.keywords.begin(), args.keywords.end(),
                                      [](const auto& kw) { return kw.first == "attribute"; });
    if (args.positional.empty() && attr_it != args.keywords.end()) {
      Value dflt = Value::none();
      for (const auto& [k, val] : args.keywords) {
        if (k == "default") {
          dflt = val;
        } else if (k != "attribute") {
          return type_error("Unexpected keyword argument '" + k + "'");
        }
      }
      const AttrPath path = attr_path(attr_it->second);
      return for_each_item(v, [&](Value item) -> core::Status {
        MLXS_ASSIGN_OR_RETURN(auto r, get_path(in, std::move(item), path, &dflt));
        out.push_back(std::move(r));
        return core::Status::ok();
      });
    }
    if (args.positional.empty()) return type_error("map requires a filter argument");
    if (!args.positional[0].is_string()) return type_error("map requires a filter name");
    const std::string name = args.positional[0].as_string();
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keywords = args.keywords;
    return for_each_item(v, [&](Value item) -> core::Status {
      MLXS_ASSIGN_OR_RETURN(auto r, in.apply_filter(name, item, rest));
      out.push_back(std::move(r));
      return core::Status::ok();
    });
  });
}

core::Result<Value> min_max(Interpreter& in, const Value& v, const CallArgs& args, bool want_max) {
  MLXS_ASSIGN_OR_RETURN(
      auto b, BoundArgs::bind(want_max ? "max" : "min", args, {"case_sensitive", "attribute"}));
  MLXS_ASSIGN_OR_RETURN(const bool case_sensitive, b.boolean(0, false));
  const AttrPath path = attr_path(b.get(1, Value::none()));
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const auto key = [&](const Value& item) -> core::Result<Value> {
    MLXS_ASSIGN_OR_RETURN(auto k, get_path(in, item, path));
    return case_sensitive ? k : ignore_case(k);
  };
  std::size_t best = 0;
  MLXS_ASSIGN_OR_RETURN(Value best_key, key(items[0]));
  for (std::size_t i = 1; i < items.size(); ++i) {
    MLXS_ASSIGN_OR_RETURN(auto k, key(items[i]));
    MLXS_ASSIGN_OR_RETURN(const bool better,
                          want_max ? less_than(best_key, k) : less_than(k, best_key));
    if (better) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

core::Result<Value> f_max(Interpreter& in, const Value& v, const CallArgs& a) {
  return min_max(in, v, a, true);
}
core::Result<Value> f_min(Interpreter& in, const Value& v, const CallArgs& a) {
  return min_max(in, v, a, false);
}

core::Result<Value> select_reject(Interpreter& in, const Value& v, const CallArgs& args,
                                  bool select, bool lookup_attr) {
  return deferred_generator("select_or_reject", [&](List& out) -> core::Status {
    if (!truthy(v)) return core::Status::ok();
    std::size_t off = 0;
    AttrPath path;
    if (lookup_attr) {
      if (args.positional.empty()) return type_error("Missing parameter for attribute name");
      path = attr_path(args.positional[0]);
      off = 1;
    }
    std::string test;
    CallArgs test_args;
    const bool has_test = args.positional.size() > off;
    if (has_test) {
      if (!args.positional[off].is_string()) return type_error("test name must be a string");
      test = args.positional[off].as_string();
      test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off) + 1,
                                  args.positional.end());
      test_args.keywords = args.keywords;
    }
    return for_each_item(v, [&](Value item) -> core::Status {
      Value probe = item;
      if (lookup_attr) {
        MLXS_ASSIGN_OR_RETURN(probe, get_path(in, item, path));
      }
      bool ok = false;
      if (has_test) {
        MLXS_ASSIGN_OR_RETURN(ok, in.apply_test(test, probe, test_args));
      } else {
        ok = truthy(probe);
      }
      if (ok == select) out.push_back(std::move(item));
      return core::Status::ok();
    });
  });
}

core::Result<Value> f_select(Interpreter& in, const Value& v, const CallArgs& a) {
  return select_reject(in, v, a, true, false);
}
core::Result<Value> f_reject(Interpreter& in, const Value& v, const CallArgs& a) {
  return select_reject(in, v, a, false, false);
}
core::Result<Value> f_selectattr(Interpreter& in, const Value& v, const CallArgs& a) {
  return select_reject(in, v, a, true, true);
}
core::Result<Value> f_rejectattr(Interpreter& in, const Value& v, const CallArgs& a) {
  return select_reject(in, v, a, false, true);
}

core::Result<Value> f_replace(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("replace", args, {"old", "new", "count"}, 2));
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  MLXS_ASSIGN_OR_RETURN(auto old, soft_str(in, b.get(0)));
  MLXS_ASSIGN_OR_RETURN(auto repl, soft_str(in, b.get(1)));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t count, b.integer(2, -1));
  MLXS_RETURN_IF_ERROR(in.charge(s.size() + (unicode::length(s) + 1) * repl.size()));
  return Value::string(py_replace(s, old, repl, count));
}

core::Result<Value> f_reverse(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("reverse", args, {}).status());
  if (v.is_string()) {
    auto cps = unicode::code_points(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return like(v, unicode::encode(cps));
  }
  // reversed() gives an iterator; a generator cannot be reversed, so jinja2
  // falls back to a reversed list of it.
  auto items = iterate_value(v);
  if (!items) return type_error("argument must be iterable");
  List out = std::move(items).value();
  std::reverse(out.begin(), out.end());
  if (v.is_generator()) return Value::list(std::move(out));
  return make_generator("", std::move(out), core::Status::ok(),
                        v.is_dict()    ? "dict_reversekeyiterator"
                        : v.is_tuple() ? "reversed"
                                       : "list_reverseiterator");
}

core::Result<Value> f_round(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("round", args, {"precision", "method"}));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t precision, b.integer(0, 0));
  MLXS_ASSIGN_OR_RETURN(const std::string method, b.string(1, "common"));
  if (method != "common" && method != "ceil" && method != "floor") {
    return type_error("method must be common, ceil or floor");
  }
  if (v.is_undefined()) return undefined_error(v);
  if (!v.is_number())
    return type_error("type " + type_name(v) + " doesn't define __round__ method");
  if (precision > 400 || precision < -400) return type_error("rounding precision out of range");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method != "common") {
    const double x = v.as_float() * scale;
    return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (!v.is_float()) {
    if (precision >= 0) return Value::integer(v.as_int());
    // round(int, -n): to a multiple of 10^n, ties to even.
    const double r = std::nearbyint(static_cast<double>(v.as_int()) /
                                    std::pow(10.0, static_cast<double>(-precision)));
    return Value::integer(
        static_cast<std::int64_t>(r * std::pow(10.0, static_cast<double>(-precision))));
  }
  const double x = v.as_float();
  if (std::isnan(x) || std::isinf(x)) return Value::number(x);
  if (precision >= 0) {
    // printf rounds the exact binary value half-to-even, as CPython's round does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f",
                  static_cast<int>(std::min<std::int64_t>(precision, 330)), x);
    return Value::number(std::strtod(buf, nullptr));
  }
  const double p = std::pow(10.0, static_cast<double>(-precision));
  return Value::number(std::nearbyint(x / p) * p);
}

core::Result<Value> f_safe(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("safe", args, {}).status());
  if (v.is_markup()) return v;
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  return Value::markup(std::move(s));
}

core::Result<Value> f_slice(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("slice", args, {"slices", "fill_with"}, 1));
  return deferred_generator("sync_do_slice", [&](List& out) -> core::Status {
    MLXS_ASSIGN_OR_RETURN(const std::int64_t slices, b.integer(0, 1));
    if (slices <= 0) return type_error("slice count must be positive");
    if (slices > 100000) return type_error("too many slices");
    MLXS_ASSIGN_OR_RETURN(auto seq, iterate_value(v));
    MLXS_RETURN_IF_ERROR(in.charge(16 * (seq.size() + static_cast<std::uint64_t>(slices))));
    const auto length = static_cast<std::int64_t>(seq.size());
    const std::int64_t per = length / slices;
    const std::int64_t extra = length % slices;
    std::int64_t offset = 0;
    for (std::int64_t n = 0; n < slices; ++n) {
      const std::int64_t start = offset + n * per;
      if (n < extra) ++offset;
      const std::int64_t end = offset + (n + 1) * per;
      List part(seq.begin() + start, seq.begin() + end);
      if (b.has(1) && !b.get(1).is_none() && n >= extra) part.push_back(b.get(1));
      out.push_back(Value::list(std::move(part)));
    }
    return core::Status::ok();
  });
}

core::Result<Value> f_sort(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b,
                        BoundArgs::bind("sort", args, {"reverse", "case_sensitive", "attribute"}));
  MLXS_ASSIGN_OR_RETURN(const bool reverse, b.int_flag(0, false));
  MLXS_ASSIGN_OR_RETURN(const bool case_sensitive, b.boolean(1, false));
  const Value attribute = b.get(2, Value::none());
  std::vector<AttrPath> paths;
  if (attribute.is_string()) {
    std::size_t start = 0;
    const std::string& s = attribute.as_string();
    while (true) {
      const std::size_t comma = s.find(',', start);
      paths.push_back(attr_path(Value::string(
          s.substr(start, comma == std::string::npos ? std::string::npos : comma - start))));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    paths.push_back(attr_path(attribute));
  }
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  std::vector<std::pair<List, Value>> keyed;
  keyed.reserve(items.size());
  for (auto& item : items) {
    List key;
    for (const auto& path : paths) {
      MLXS_ASSIGN_OR_RETURN(auto k, get_path(in, item, path));
      key.push_back(case_sensitive ? k : ignore_case(k));
    }
    keyed.emplace_back(std::move(key), std::move(item));
  }
  MLXS_RETURN_IF_ERROR(stable_sort(keyed, [&](const auto& a, const auto& c) -> core::Result<bool> {
    return reverse ? list_less(c.first, a.first) : list_less(a.first, c.first);
  }));
  List out;
  out.reserve(keyed.size());
  for (auto& [k, item] : keyed) out.push_back(std::move(item));
  return Value::list(std::move(out));
}

core::Result<Value> f_string(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("string", args, {}).status());
  if (v.is_string()) return v;  // soft_str keeps a Markup as it is
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  return Value::string(std::move(s));
}

core::Result<Value> f_sum(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("sum", args, {"attribute", "start"}));
  const AttrPath path = attr_path(b.get(0, Value::none()));
  Value total = b.get(1, Value::integer(0));
  if (total.is_string()) return type_error("sum() can't sum strings [use ''.join(seq) instead]");
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  for (const auto& item : items) {
    MLXS_ASSIGN_OR_RETURN(auto x, get_path(in, item, path));
    MLXS_ASSIGN_OR_RETURN(total, binary_op(in, ast::BinOp::kAdd, total, x));
  }
  return total;
}

core::Result<Value> f_tojson(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(
      auto b,
      BoundArgs::bind("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonDumpOptions o;
  MLXS_ASSIGN_OR_RETURN(o.ensure_ascii, b.boolean(0, false));
  MLXS_ASSIGN_OR_RETURN(o.sort_keys, b.boolean(3, false));
  const Value& indent = b.get(1, Value::none());
  if (indent.is_string()) {
    o.indent = indent.as_string();
  } else if (indent.is_int() || indent.is_bool()) {
    if (indent.as_int() > 1024) return type_error("indent too large");
    o.indent =
        std::string(static_cast<std::size_t>(std::max<std::int64_t>(indent.as_int(), 0)), ' ');
  } else if (!indent.is_none()) {
    return type_error("indent must be an int or a string, not " + type_name(indent));
  }
  const Value& seps = b.get(2, Value::none());
  if (!seps.is_none()) {
    if (!seps.is_sequence() || seps.as_list().size() != 2 || !seps.as_list()[0].is_string() ||
        !seps.as_list()[1].is_string()) {
      return type_error("separators must be a (item_separator, key_separator) pair of strings");
    }
    o.item_separator = seps.as_list()[0].as_string();
    o.key_separator = seps.as_list()[1].as_string();
  }
  o.max_bytes = in.options().limits.max_output_bytes;
  MLXS_ASSIGN_OR_RETURN(auto text, json_dumps(v, o));
  MLXS_RETURN_IF_ERROR(in.charge(text.size()));
  return Value::string(std::move(text));
}

core::Result<Value> f_trim(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("trim", args, {"chars"}));
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  if (!b.has(0) || b.get(0).is_none())
    return like(v, std::string(unicode::strip(s, nullptr, true, true)));
  if (!b.get(0).is_string()) return type_error("strip arg must be None or str");
  const std::string_view chars = b.get(0).as_string();
  return like(v, std::string(unicode::strip(s, &chars, true, true)));
}

core::Result<Value> f_truncate(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(
      auto b, BoundArgs::bind("truncate", args, {"length", "killwords", "end", "leeway"}));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t length, b.integer(0, 255));
  MLXS_ASSIGN_OR_RETURN(const bool killwords, b.boolean(1, false));
  MLXS_ASSIGN_OR_RETURN(const std::string end, b.string(2, "..."));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t leeway, b.integer(3, 5));
  const auto end_len = static_cast<std::int64_t>(unicode::length(end));
  if (length < end_len)
    return type_error("expected length >= " + std::to_string(end_len) + ", got " +
                      std::to_string(length));
  if (leeway < 0) return type_error("expected leeway >= 0, got " + std::to_string(leeway));
  // No str() here either: other sizeable values come back unchanged when short.
  if (!v.is_string()) {
    MLXS_ASSIGN_OR_RETURN(const std::int64_t len, py_len(v));
    if (len <= length + leeway) return v;
    if (killwords)
      return type_error("can only concatenate " + type_name(v) + " (not \"str\") to " +
                        type_name(v));
    return type_error("'" + type_name(v) + "' object has no attribute 'rsplit'");
  }
  (void)in;
  const std::string& s = v.as_string();
  if (static_cast<std::int64_t>(unicode::length(s)) <= length + leeway) return v;
  std::string head =
      s.substr(0, unicode::byte_offset(s, static_cast<std::size_t>(length - end_len)));
  if (!killwords) {
    const std::size_t space = head.rfind(' ');
    if (space != std::string::npos) head.resize(space);
  }
  return like(v, head + (v.is_markup() ? html_escape(end) : end));
}

core::Result<Value> f_unique(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("unique", args, {"case_sensitive", "attribute"}));
  return deferred_generator("sync_do_unique", [&](List& out) -> core::Status {
    MLXS_ASSIGN_OR_RETURN(const bool case_sensitive, b.boolean(0, false));
    const AttrPath path = attr_path(b.get(1, Value::none()));
    List seen;
    return for_each_item(v, [&](Value item) -> core::Status {
      MLXS_RETURN_IF_ERROR(in.charge(seen.size() / 8 + 1));  // the scan below is quadratic
      MLXS_ASSIGN_OR_RETURN(auto k, get_path(in, item, path));
      if (!case_sensitive) k = ignore_case(k);
      if (k.is_list() || k.is_dict() || k.is_namespace())
        return type_error("unhashable type: '" + type_name(k) + "'");
      for (const auto& s : seen) {
        if (equals(s, k)) return core::Status::ok();
      }
      seen.push_back(std::move(k));
      out.push_back(std::move(item));
      return core::Status::ok();
    });
  });
}

core::Result<Value> f_urlencode(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("urlencode", args, {}).status());
  const auto quote = [&](const Value& x, bool for_qs) -> core::Result<std::string> {
    MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, x));
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' ||
          (c == '/' && !for_qs)) {
        out.push_back(static_cast<char>(c));
      } else if (c == ' ' && for_qs) {
        out.push_back('+');
      } else {
        out.push_back('%');
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      }
    }
    return out;
  };
  if (v.is_string() || !(v.is_dict() || v.is_sequence())) {
    MLXS_ASSIGN_OR_RETURN(auto s, quote(v, false));
    return Value::string(std::move(s));
  }
  List pairs;
  if (v.is_dict()) {
    for (const auto& [k, val] : v.as_dict().items) pairs.push_back(Value::tuple({k, val}));
  } else {
    pairs = v.as_list();
  }
  std::string out;
  for (const auto& p : pairs) {
    if (!p.is_sequence() || p.as_list().size() != 2)
      return type_error("urlencode expects (key, value) pairs");
    MLXS_ASSIGN_OR_RETURN(auto k, quote(p.as_list()[0], true));
    MLXS_ASSIGN_OR_RETURN(auto val, quote(p.as_list()[1], true));
    if (!out.empty()) out.push_back('&');
    out += k + "=" + val;
  }
  return Value::string(std::move(out));
}

core::Result<Value> f_wordcount(Interpreter& in, const Value& v, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("wordcount", args, {}).status());
  MLXS_ASSIGN_OR_RETURN(auto s, soft_str(in, v));
  std::int64_t words = 0;
  bool in_word = false;
  for (std::size_t p = 0; p < s.size();) {
    const char32_t c = unicode::decode(s, p);
    // \w: letters, digits and underscore (ASCII exactly, beyond ASCII: not space/punctuation).
    const bool w =
        c == '_' || (c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0
                              : !unicode::is_space(c) && unicode::is_printable(c) &&
                                    !(c >= 0x2000 && c <= 0x206F) && !(c >= 0x3000 && c <= 0x303F));
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value::integer(words);
}

core::Result<Value> f_filesizeformat(Interpreter&, const Value& v, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("filesizeformat", args, {"binary"}));
  MLXS_ASSIGN_OR_RETURN(const bool binary, b.boolean(0, false));
  double bytes = 0;
  if (v.is_number()) {
    bytes = v.as_float();
  } else if (v.is_string()) {
    auto f = parse_py_float(v.as_string());
    if (!f) return type_error("could not convert string to float: " + repr(v));
    bytes = *f;
  } else {
    return type_error("float() argument must be a string or a real number, not '" + type_name(v) +
                      "'");
  }
  const double base = binary ? 1024 : 1000;
  static constexpr const char* kBin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  static constexpr const char* kDec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  if (bytes == 1) return Value::string("1 Byte");
  if (bytes < base)
    return Value::string(std::to_string(static_cast<std::int64_t>(bytes)) + " Bytes");
  double unit = base;
  const char* prefix = nullptr;
  for (int i = 0; i < 8; ++i) {
    unit = std::pow(base, i + 2);
    prefix = binary ? kBin[i] : kDec[i];
    if (bytes < unit) break;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f %s", base * bytes / unit, prefix);
  return Value::string(buf);
}

struct Entry {
  std::string_view name;
  FilterFn fn;
};

constexpr Entry kFilters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", f_filesizeformat},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_forceescape},
    {"format", f_format},
    {"groupby", f_groupby},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", f_slice},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"urlencode", f_urlencode},
    {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& e : kFilters) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace mlxs::template_
