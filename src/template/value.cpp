#include "template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "template/runtime.h"
#include "template/unicode.h"

namespace mlxs::template_ {

// Printing state: the size limit, the depth, and the namespaces being
// printed (Python prints a namespace that contains itself as {...}).
struct ReprState {
  std::size_t limit = SIZE_MAX;
  int depth = 0;
  std::vector<const Namespace*> open;
};

bool append_str_impl(std::string& out, const Value& v, ReprState& st);

namespace {

// Namespaces can nest without bound (and even hold themselves), so repr
// also stops at this depth.
constexpr int kMaxReprDepth = 512;

const std::string& empty_string() {
  static const std::string kEmpty;
  return kEmpty;
}

void append_string_repr(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t cp = unicode::decode(s, pos);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (unicode::is_printable(cp)) {
      unicode::append(out, cp);
    } else {
      const int digits = cp < 0x100 ? 2 : cp < 0x10000 ? 4 : 8;
      out += digits == 2 ? "\\x" : digits == 4 ? "\\u" : "\\U";
      for (int k = digits - 1; k >= 0; --k) out.push_back(kHex[(cp >> (4 * k)) & 0xF]);
    }
  }
  out.push_back(quote);
}

bool append_repr_impl(std::string& out, const Value& v, ReprState& st);

bool append_items_repr(std::string& out, const List& items, char open, char close, bool tuple,
                       ReprState& st) {
  out.push_back(open);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    if (!append_repr_impl(out, items[i], st)) return false;
  }
  if (tuple && items.size() == 1) out.push_back(',');
  out.push_back(close);
  return out.size() <= st.limit;
}

bool append_repr_impl(std::string& out, const Value& v, ReprState& st) {
  if (out.size() > st.limit || st.depth > kMaxReprDepth) return false;
  struct Deeper {
    int& d;
    explicit Deeper(int& x) : d(x) { ++d; }
    ~Deeper() { --d; }
    Deeper(const Deeper&) = delete;
    Deeper& operator=(const Deeper&) = delete;
  } deeper(st.depth);
  switch (v.kind()) {
    case Value::Kind::kString:
      if (v.is_markup()) out += "Markup(";
      append_string_repr(out, v.as_string());
      if (v.is_markup()) out += ")";
      return out.size() <= st.limit;
    case Value::Kind::kGenerator:
      // Python adds the object's address, which no other process could match.
      out += "<" + v.as_generator().type + " object " + v.as_generator().function + ">";
      return out.size() <= st.limit;
    case Value::Kind::kList:
      return append_items_repr(out, v.as_list(), '[', ']', false, st);
    case Value::Kind::kTuple:
      return append_items_repr(out, v.as_list(), '(', ')', true, st);
    case Value::Kind::kDict: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, val] : v.as_dict().items) {
        if (!first) out += ", ";
        first = false;
        if (!append_repr_impl(out, k, st)) return false;
        out += ": ";
        if (!append_repr_impl(out, val, st)) return false;
      }
      out.push_back('}');
      return out.size() <= st.limit;
    }
    case Value::Kind::kUndefined:
      out += "Undefined";
      return out.size() <= st.limit;
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
    case Value::Kind::kLoop:
      return append_str_impl(out, v, st);
  }
  return false;
}

std::uint64_t add_weight(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t kMax = std::uint64_t{1} << 62;
  return a >= kMax || b >= kMax || a + b >= kMax ? kMax : a + b;
}

std::uint64_t list_weight(const List& items) {
  std::uint64_t w = 1;
  for (const auto& item : items) w = add_weight(w, item.weight());
  return w;
}

std::uint16_t list_depth(const List& items) {
  int d = 0;
  for (const auto& item : items) d = std::max(d, item.depth());
  return static_cast<std::uint16_t>(std::min(d + 1, 65535));
}

bool numbers_equal(const Value& a, const Value& b) {
  if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
  return a.as_int() == b.as_int();
}

}  // namespace

// ------------------------------------------------------------- factories

Value Value::undefined(std::string message) {
  Value v;
  if (!message.empty()) v.ptr_ = std::make_shared<std::string>(std::move(message));
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(std::int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s) {
  return string(std::make_shared<const std::string>(std::move(s)));
}
Value Value::markup(std::string s) {
  Value v = string(std::move(s));
  v.b_ = true;
  return v;
}
Value Value::string(std::shared_ptr<const std::string> s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::const_pointer_cast<std::string>(std::move(s));
  return v;
}
Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::kList;
  v.i_ = static_cast<std::int64_t>(list_weight(items));
  v.depth_ = list_depth(items);
  v.ptr_ = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::tuple(List items) {
  Value v;
  v.kind_ = Kind::kTuple;
  v.i_ = static_cast<std::int64_t>(list_weight(items));
  v.depth_ = list_depth(items);
  v.ptr_ = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::group(Value grouper, List items) {
  Value v = tuple({std::move(grouper), list(std::move(items))});
  v.b_ = true;
  return v;
}
Value Value::dict(Dict d) {
  return dict(std::make_shared<const Dict>(std::move(d)));
}
Value Value::dict(std::shared_ptr<const Dict> d) {
  Value v;
  v.kind_ = Kind::kDict;
  std::uint64_t w = 1;
  int depth = 0;
  for (const auto& [key, value] : d->items) {
    w = add_weight(w, add_weight(key.weight(), value.weight()));
    depth = std::max({depth, key.depth(), value.depth()});
  }
  v.i_ = static_cast<std::int64_t>(w);
  v.depth_ = static_cast<std::uint16_t>(std::min(depth + 1, 65535));
  v.ptr_ = std::const_pointer_cast<Dict>(std::move(d));
  return v;
}

std::uint64_t Value::weight() const {
  switch (kind_) {
    case Kind::kString:
      return 1 + as_string().size();
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kGenerator:
    case Kind::kDict:
      return static_cast<std::uint64_t>(i_);
    case Kind::kUndefined:
    case Kind::kNone:
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kFloat:
    case Kind::kNamespace:
    case Kind::kCallable:
    case Kind::kLoop:
      return 1;
  }
  return 1;
}
Value Value::ns(std::shared_ptr<Namespace> n) {
  Value v;
  v.kind_ = Kind::kNamespace;
  v.ptr_ = std::move(n);
  return v;
}
Value Value::callable(std::shared_ptr<const Callable> c) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.ptr_ = std::const_pointer_cast<Callable>(std::move(c));
  return v;
}
Value Value::generator(std::shared_ptr<GeneratorState> g) {
  Value v;
  v.kind_ = Kind::kGenerator;
  v.i_ = static_cast<std::int64_t>(list_weight(g->items));
  v.depth_ = list_depth(g->items);
  v.ptr_ = std::move(g);
  return v;
}
Value Value::loop(std::shared_ptr<LoopState> l) {
  Value v;
  v.kind_ = Kind::kLoop;
  v.ptr_ = std::move(l);
  return v;
}

// -------------------------------------------------------------- accessors

double Value::as_float() const {
  switch (kind_) {
    case Kind::kFloat:
      return f_;
    case Kind::kInt:
      return static_cast<double>(i_);
    case Kind::kBool:
      return b_ ? 1.0 : 0.0;
    case Kind::kUndefined:
    case Kind::kNone:
    case Kind::kString:
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kGenerator:
    case Kind::kDict:
    case Kind::kNamespace:
    case Kind::kCallable:
    case Kind::kLoop:
      return 0.0;
  }
  return 0.0;
}
const std::string& Value::as_string() const {
  return kind_ == Kind::kString ? *static_cast<const std::string*>(ptr_.get()) : empty_string();
}
std::shared_ptr<const std::string> Value::string_ptr() const {
  if (kind_ != Kind::kString) return nullptr;
  return std::static_pointer_cast<const std::string>(ptr_);
}
const List& Value::as_list() const {
  static const List kEmpty;
  return is_sequence() ? *static_cast<const List*>(ptr_.get()) : kEmpty;
}
const Dict& Value::as_dict() const {
  static const Dict kEmpty;
  return kind_ == Kind::kDict ? *static_cast<const Dict*>(ptr_.get()) : kEmpty;
}
Namespace& Value::as_namespace() const {
  return *static_cast<Namespace*>(ptr_.get());
}
const Callable& Value::as_callable() const {
  return *static_cast<const Callable*>(ptr_.get());
}
LoopState& Value::as_loop() const {
  return *static_cast<LoopState*>(ptr_.get());
}
GeneratorState& Value::as_generator() const {
  return *static_cast<GeneratorState*>(ptr_.get());
}
std::string Value::undefined_message() const {
  if (kind_ != Kind::kUndefined || !ptr_) return {};
  return *static_cast<const std::string*>(ptr_.get());
}

// ------------------------------------------------------------------- Dict

const Value* Dict::find(std::string_view key) const {
  if (!index_.empty()) {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items[it->second].second;
  }
  for (const auto& [k, v] : items) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : items) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  if (!index_.empty() && key.is_string()) {
    const auto it = index_.find(key.as_string());
    if (it != index_.end()) {
      items[it->second].second = std::move(value);
      return;
    }
  } else {
    for (auto& [k, v] : items) {
      if (equals(k, key)) {
        v = std::move(value);
        return;
      }
    }
  }
  items.emplace_back(std::move(key), std::move(value));
  if (!index_.empty() && items.back().first.is_string()) {
    index_.emplace(items.back().first.as_string(), items.size() - 1);
  } else {
    index_if_large();
  }
}

void Dict::index_if_large() {
  if (items.size() < 16 || !index_.empty()) return;
  for (const auto& [k, v] : items) {
    if (!k.is_string()) return;  // mixed keys: stay linear
  }
  // The views point into shared immutable strings, so they stay valid when
  // `items` reallocates.
  for (std::size_t i = 0; i < items.size(); ++i) index_.emplace(items[i].first.as_string(), i);
}

// ---------------------------------------------------------- Python semantics

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci = [-]d[.ddd]e[+-]XX: the shortest digits that round-trip.
  std::string out;
  std::size_t i = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    i = 1;
  }
  const std::size_t e = sci.find('e');
  std::string digits;
  for (std::size_t k = i; k < e; ++k) {
    if (sci[k] != '.') digits.push_back(sci[k]);
  }
  const int exp = std::atoi(sci.c_str() + e + 1);
  const int decpt = exp + 1;  // digits d1d2... = 0.d1d2... * 10^decpt
  const int n = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-decpt), '0');
      out += digits;
    } else if (decpt < n) {
      out += digits.substr(0, static_cast<std::size_t>(decpt));
      out.push_back('.');
      out += digits.substr(static_cast<std::size_t>(decpt));
    } else {
      out += digits;
      out.append(static_cast<std::size_t>(decpt - n), '0');
      out += ".0";
    }
    return out;
  }
  out.push_back(digits[0]);
  if (n > 1) {
    out.push_back('.');
    out += digits.substr(1);
  }
  out.push_back('e');
  out.push_back(exp < 0 ? '-' : '+');
  const int a = exp < 0 ? -exp : exp;
  if (a < 10) out.push_back('0');
  out += std::to_string(a);
  return out;
}

bool append_str(std::string& out, const Value& v, std::size_t limit) {
  ReprState st;
  st.limit = limit;
  return append_str_impl(out, v, st);
}

bool append_str_impl(std::string& out, const Value& v, ReprState& st) {
  if (st.depth > kMaxReprDepth) return false;
  const std::size_t limit = st.limit;
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return true;
    case Value::Kind::kNone:
      out += "None";
      break;
    case Value::Kind::kBool:
      out += v.as_bool() ? "True" : "False";
      break;
    case Value::Kind::kInt:
      out += std::to_string(v.as_int());
      break;
    case Value::Kind::kFloat:
      out += float_repr(v.as_float());
      break;
    case Value::Kind::kString:
      if (out.size() + v.as_string().size() > limit) return false;
      out += v.as_string();
      return true;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kGenerator:
    case Value::Kind::kDict:
      return append_repr_impl(out, v, st);
    case Value::Kind::kNamespace: {
      const Namespace* ns = &v.as_namespace();
      if (std::find(st.open.begin(), st.open.end(), ns) != st.open.end()) {
        out += "<Namespace {...}>";
        break;
      }
      st.open.push_back(ns);
      out += "<Namespace {";
      bool first = true;
      for (const auto& [k, val] : ns->attrs.items) {
        if (!first) out += ", ";
        first = false;
        if (!append_repr_impl(out, k, st) || (out += ": ", !append_repr_impl(out, val, st))) {
          st.open.pop_back();
          return false;
        }
      }
      st.open.pop_back();
      out += "}>";
      break;
    }
    case Value::Kind::kCallable: {
      const Callable& c = v.as_callable();
      switch (c.kind) {
        case Callable::Kind::kMacro:
          out += "<Macro '" + c.name + "'>";
          break;
        case Callable::Kind::kMethod:
          out += "<built-in method " + c.name + " of " + type_name(c.self) + " object>";
          break;
        case Callable::Kind::kBuiltin:
          out += "<function " + c.name + ">";
          break;
      }
      break;
    }
    case Value::Kind::kLoop: {
      const LoopState& l = v.as_loop();
      out += "<LoopContext " + std::to_string(l.index0 + 1) + "/" + std::to_string(l.length) + ">";
      break;
    }
  }
  return out.size() <= limit;
}

bool append_repr(std::string& out, const Value& v, std::size_t limit) {
  ReprState st;
  st.limit = limit;
  return append_repr_impl(out, v, st);
}

std::string to_str(const Value& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v);
  return out;
}

std::string repr(const Value& v) {
  std::string out;
  ReprState st;
  append_repr_impl(out, v, st);
  return out;
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int() != 0;
    case Value::Kind::kFloat:
      return v.as_float() != 0.0;
    case Value::Kind::kString:
      return !v.as_string().empty();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return !v.as_list().empty();
    case Value::Kind::kGenerator:
      return true;
    case Value::Kind::kDict:
      return v.as_dict().size() != 0;
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
    case Value::Kind::kLoop:
      return true;
  }
  return false;
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return v.is_markup() ? "Markup" : "str";
    case Value::Kind::kList:
      return "list";
    case Value::Kind::kGenerator:
      return v.as_generator().type;
    case Value::Kind::kTuple:
      return "tuple";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kCallable:
      return v.as_callable().kind == Callable::Kind::kMacro ? "Macro"
                                                            : "builtin_function_or_method";
    case Value::Kind::kLoop:
      return "LoopContext";
  }
  return "object";
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_namespace()) return "jinja2.utils.Namespace object";
  if (v.is_loop()) return "jinja2.runtime.LoopContext object";
  if (v.is_callable() && v.as_callable().kind == Callable::Kind::kMacro)
    return "jinja2.runtime.Macro object";
  return type_name(v) + " object";
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
      return numbers_equal(a, b);
    case Value::Kind::kString:
      return a.as_string() == b.as_string();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (a.identity() == b.identity()) return true;
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* other = y.find(k);
        if (other == nullptr || !equals(v, *other)) return false;
      }
      return true;
    }
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
    case Value::Kind::kGenerator:
    case Value::Kind::kLoop:
      return a.identity() == b.identity();
  }
  return false;
}

}  // namespace mlxs::template_
