#include "template/str_methods.h"

#include <algorithm>
#include <string>

#include "template/args.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/pyformat.h"
#include "template/unicode.h"

namespace mlxs::template_ {
namespace {

using Fn = Callable::Fn;

core::Result<std::string> str_arg(std::string_view method, const Value& v, int position) {
  if (v.is_string()) return v.as_string();
  if (v.is_undefined()) return undefined_error(v);
  return type_error(std::string(method) + "() argument " + std::to_string(position) +
                    " must be str, not " + type_name(v));
}

// Python's slice clamping of optional [start, end) code point bounds to bytes.
core::Status bounds(const BoundArgs& b, std::size_t start_i, const std::string& s,
                    std::size_t& begin, std::size_t& end) {
  const auto len = static_cast<std::int64_t>(unicode::length(s));
  MLXS_ASSIGN_OR_RETURN(std::int64_t start, b.integer(start_i, 0));
  MLXS_ASSIGN_OR_RETURN(std::int64_t stop, b.integer(start_i + 1, len));
  if (start < 0) start = std::max<std::int64_t>(0, start + len);
  if (stop < 0) stop = std::max<std::int64_t>(0, stop + len);
  start = std::min(start, len);
  stop = std::min(stop, len);
  begin = unicode::byte_offset(s, static_cast<std::size_t>(start));
  end = stop < start ? begin : unicode::byte_offset(s, static_cast<std::size_t>(stop));
  return core::Status::ok();
}

Value cp_index(const std::string& s, std::size_t byte_pos) {
  return Value::integer(
      static_cast<std::int64_t>(unicode::length(std::string_view(s).substr(0, byte_pos))));
}

core::Result<Value> strip_impl(std::string_view name, const Value& self, const CallArgs& args,
                               bool left, bool right) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind(name, args, {"chars"}));
  const Value& chars = b.get(0);
  const std::string& s = self.as_string();
  if (!b.has(0) || chars.is_none())
    return Value::string(std::string(unicode::strip(s, nullptr, left, right)));
  if (!chars.is_string()) {
    if (chars.is_undefined()) return undefined_error(chars);
    return type_error(std::string(name) + " arg must be None or str");
  }
  const std::string_view set = chars.as_string();
  return Value::string(std::string(unicode::strip(s, &set, left, right)));
}

core::Result<Value> m_strip(Interpreter&, const Value& self, const CallArgs& a) {
  return strip_impl("strip", self, a, true, true);
}
core::Result<Value> m_lstrip(Interpreter&, const Value& self, const CallArgs& a) {
  return strip_impl("lstrip", self, a, true, false);
}
core::Result<Value> m_rstrip(Interpreter&, const Value& self, const CallArgs& a) {
  return strip_impl("rstrip", self, a, false, true);
}

core::Result<Value> split_impl(std::string_view name, Interpreter& in, const Value& self,
                               const CallArgs& args, bool from_right) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind(name, args, {"sep", "maxsplit"}));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t maxsplit, b.integer(1, -1));
  const Value& sep = b.get(0);
  std::string sep_text;
  const std::string* sep_ptr = nullptr;
  if (b.has(0) && !sep.is_none()) {
    MLXS_ASSIGN_OR_RETURN(sep_text, str_arg(name, sep, 1));
    if (sep_text.empty()) return type_error("empty separator");
    sep_ptr = &sep_text;
  }
  const std::string& s = self.as_string();
  MLXS_RETURN_IF_ERROR(in.charge(s.size()));
  if (!from_right) return Value::list(py_split(s, sep_ptr, maxsplit));
  // rsplit: split the reversed problem. With a separator, scan from the end.
  List parts;
  if (sep_ptr != nullptr) {
    std::size_t end = s.size();
    std::int64_t splits = 0;
    while (maxsplit < 0 || splits < maxsplit) {
      if (end < sep_text.size()) break;
      const std::size_t pos = s.rfind(sep_text, end - sep_text.size());
      if (pos == std::string::npos) break;
      parts.push_back(Value::string(s.substr(pos + sep_text.size(), end - pos - sep_text.size())));
      end = pos;
      ++splits;
    }
    parts.push_back(Value::string(s.substr(0, end)));
  } else {
    const auto cps = unicode::code_points(s);
    std::size_t end = cps.size();
    std::int64_t splits = 0;
    while (true) {
      while (end > 0 && unicode::is_space(cps[end - 1])) --end;
      if (end == 0) break;
      if (maxsplit >= 0 && splits >= maxsplit) {
        parts.push_back(Value::string(unicode::encode(cps.data(), cps.data() + end)));
        break;
      }
      std::size_t start = end;
      while (start > 0 && !unicode::is_space(cps[start - 1])) --start;
      parts.push_back(Value::string(unicode::encode(cps.data() + start, cps.data() + end)));
      end = start;
      ++splits;
    }
  }
  std::reverse(parts.begin(), parts.end());
  return Value::list(std::move(parts));
}

core::Result<Value> m_split(Interpreter& in, const Value& self, const CallArgs& a) {
  return split_impl("split", in, self, a, false);
}
core::Result<Value> m_rsplit(Interpreter& in, const Value& self, const CallArgs& a) {
  return split_impl("rsplit", in, self, a, true);
}

core::Result<Value> m_splitlines(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("splitlines", args, {"keepends"}));
  MLXS_ASSIGN_OR_RETURN(const bool keepends, b.boolean(0, false));
  MLXS_RETURN_IF_ERROR(in.charge(self.as_string().size()));
  return Value::list(py_splitlines(self.as_string(), keepends));
}

core::Result<Value> affix_impl(std::string_view name, const Value& self, const CallArgs& args,
                               bool prefix) {
  MLXS_ASSIGN_OR_RETURN(
      auto b, BoundArgs::bind(name, args, {prefix ? "prefix" : "suffix", "start", "end"}, 1));
  const std::string& s = self.as_string();
  std::size_t begin = 0;
  std::size_t end = s.size();
  MLXS_RETURN_IF_ERROR(bounds(b, 1, s, begin, end));
  const std::string_view window = std::string_view(s).substr(begin, end - begin);
  const auto test = [&](const std::string& affix) {
    if (affix.size() > window.size()) return false;
    return prefix ? window.substr(0, affix.size()) == affix
                  : window.substr(window.size() - affix.size()) == affix;
  };
  const Value& arg = b.get(0);
  if (arg.is_string()) return Value::boolean(test(arg.as_string()));
  if (arg.is_tuple()) {
    for (const auto& item : arg.as_list()) {
      if (!item.is_string()) {
        return type_error("tuple for " + std::string(name) + " must only contain str, not " +
                          type_name(item));
      }
      if (test(item.as_string())) return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (arg.is_undefined()) return undefined_error(arg);
  return type_error(std::string(name) + " first arg must be str or a tuple of str, not " +
                    type_name(arg));
}

core::Result<Value> m_startswith(Interpreter&, const Value& self, const CallArgs& a) {
  return affix_impl("startswith", self, a, true);
}
core::Result<Value> m_endswith(Interpreter&, const Value& self, const CallArgs& a) {
  return affix_impl("endswith", self, a, false);
}

core::Result<Value> m_replace(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("replace", args, {"old", "new", "count"}, 2));
  MLXS_ASSIGN_OR_RETURN(auto old, str_arg("replace", b.get(0), 1));
  MLXS_ASSIGN_OR_RETURN(auto repl, str_arg("replace", b.get(1), 2));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t count, b.integer(2, -1));
  const std::string& s = self.as_string();
  // Bound the result before building it.
  const std::uint64_t worst = s.size() + (unicode::length(s) + 1) * repl.size();
  MLXS_RETURN_IF_ERROR(in.charge(worst));
  return Value::string(py_replace(s, old, repl, count));
}

core::Result<Value> case_impl(Interpreter& in, const Value& self, const CallArgs& args,
                              std::string_view name, std::string (*fn)(std::string_view)) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind(name, args, {}).status());
  MLXS_RETURN_IF_ERROR(in.charge(self.as_string().size() * 3));
  return Value::string(fn(self.as_string()));
}

core::Result<Value> m_upper(Interpreter& in, const Value& self, const CallArgs& a) {
  return case_impl(in, self, a, "upper", unicode::upper);
}
core::Result<Value> m_lower(Interpreter& in, const Value& self, const CallArgs& a) {
  return case_impl(in, self, a, "lower", unicode::lower);
}
core::Result<Value> m_title(Interpreter& in, const Value& self, const CallArgs& a) {
  return case_impl(in, self, a, "title", unicode::title);
}
core::Result<Value> m_capitalize(Interpreter& in, const Value& self, const CallArgs& a) {
  return case_impl(in, self, a, "capitalize", unicode::capitalize);
}
core::Result<Value> m_swapcase(Interpreter& in, const Value& self, const CallArgs& a) {
  return case_impl(in, self, a, "swapcase", unicode::swapcase);
}

core::Result<Value> find_impl(std::string_view name, const Value& self, const CallArgs& args,
                              bool reverse, bool raise) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind(name, args, {"sub", "start", "end"}, 1));
  MLXS_ASSIGN_OR_RETURN(auto sub, str_arg(name, b.get(0), 1));
  const std::string& s = self.as_string();
  std::size_t begin = 0;
  std::size_t end = s.size();
  MLXS_RETURN_IF_ERROR(bounds(b, 1, s, begin, end));
  std::size_t pos = std::string::npos;
  if (end >= begin && end - begin >= sub.size()) {
    const std::string_view window = std::string_view(s).substr(begin, end - begin);
    const std::size_t p = reverse ? window.rfind(sub) : window.find(sub);
    if (p != std::string_view::npos) pos = begin + p;
  }
  if (pos == std::string::npos) {
    if (raise) return type_error("substring not found");
    return Value::integer(-1);
  }
  return cp_index(s, pos);
}

core::Result<Value> m_find(Interpreter&, const Value& self, const CallArgs& a) {
  return find_impl("find", self, a, false, false);
}
core::Result<Value> m_rfind(Interpreter&, const Value& self, const CallArgs& a) {
  return find_impl("rfind", self, a, true, false);
}
core::Result<Value> m_index(Interpreter&, const Value& self, const CallArgs& a) {
  return find_impl("index", self, a, false, true);
}
core::Result<Value> m_rindex(Interpreter&, const Value& self, const CallArgs& a) {
  return find_impl("rindex", self, a, true, true);
}

core::Result<Value> m_count(Interpreter&, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("count", args, {"sub", "start", "end"}, 1));
  MLXS_ASSIGN_OR_RETURN(auto sub, str_arg("count", b.get(0), 1));
  const std::string& s = self.as_string();
  std::size_t begin = 0;
  std::size_t end = s.size();
  MLXS_RETURN_IF_ERROR(bounds(b, 1, s, begin, end));
  const std::string_view window = std::string_view(s).substr(begin, end - begin);
  if (sub.empty()) return Value::integer(static_cast<std::int64_t>(unicode::length(window)) + 1);
  std::int64_t n = 0;
  for (std::size_t p = window.find(sub); p != std::string_view::npos;
       p = window.find(sub, p + sub.size()))
    ++n;
  return Value::integer(n);
}

core::Result<Value> m_join(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("join", args, {"iterable"}, 1));
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(b.get(0)));
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      return type_error("sequence item " + std::to_string(i) + ": expected str instance, " +
                        type_name(items[i]) + " found");
    }
    if (i > 0) out += self.as_string();
    out += items[i].as_string();
    MLXS_RETURN_IF_ERROR(in.charge(items[i].as_string().size() + self.as_string().size()));
  }
  return Value::string(std::move(out));
}

core::Result<Value> m_format(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto text, brace_format(in, self.as_string(), args));
  return Value::string(std::move(text));
}

template <bool (*Pred)(char32_t)>
core::Result<Value> predicate(const Value& self) {
  const std::string& s = self.as_string();
  if (s.empty()) return Value::boolean(false);
  for (std::size_t p = 0; p < s.size();) {
    if (!Pred(unicode::decode(s, p))) return Value::boolean(false);
  }
  return Value::boolean(true);
}

bool cp_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
// Letters: ASCII exactly; beyond ASCII, cased letters and the big scripts
// without case (CJK, kana, Hangul, Arabic, Hebrew, Thai, Devanagari...).
bool cp_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (unicode::is_cased(c)) return true;
  return (c >= 0x0590 && c <= 0x06FF) || (c >= 0x0900 && c <= 0x0DFF) ||
         (c >= 0x0E00 && c <= 0x0EFF) || (c >= 0x3040 && c <= 0x30FF) ||
         (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x20000 && c <= 0x2FFFF);
}
bool cp_alnum(char32_t c) {
  return cp_alpha(c) || cp_digit(c);
}

core::Result<Value> m_isdigit(Interpreter&, const Value& self, const CallArgs&) {
  return predicate<cp_digit>(self);
}
core::Result<Value> m_isalpha(Interpreter&, const Value& self, const CallArgs&) {
  return predicate<cp_alpha>(self);
}
core::Result<Value> m_isalnum(Interpreter&, const Value& self, const CallArgs&) {
  return predicate<cp_alnum>(self);
}
core::Result<Value> m_isspace(Interpreter&, const Value& self, const CallArgs&) {
  return predicate<unicode::is_space>(self);
}
core::Result<Value> m_islower(Interpreter&, const Value& self, const CallArgs&) {
  return Value::boolean(unicode::is_lower(self.as_string()));
}
core::Result<Value> m_isupper(Interpreter&, const Value& self, const CallArgs&) {
  return Value::boolean(unicode::is_upper(self.as_string()));
}

core::Result<Value> justify(std::string_view name, Interpreter& in, const Value& self,
                            const CallArgs& args, char where) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind(name, args, {"width", "fillchar"}, 1));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t width, b.integer(0, 0));
  std::string fill = " ";
  if (b.has(1)) {
    MLXS_ASSIGN_OR_RETURN(fill, str_arg(name, b.get(1), 2));
    if (unicode::length(fill) != 1)
      return type_error("The fill character must be exactly one character long");
  }
  const std::string& s = self.as_string();
  const auto len = static_cast<std::int64_t>(unicode::length(s));
  if (width <= len) return self;
  const auto total = static_cast<std::uint64_t>(width - len);
  MLXS_RETURN_IF_ERROR(in.charge(total * fill.size() + s.size()));
  std::uint64_t left = 0;
  if (where == '>') left = total;
  if (where == '^')
    left = total / 2 + (total & static_cast<std::uint64_t>(width) & 1);  // CPython's centring
  std::string out;
  for (std::uint64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (std::uint64_t i = left; i < total; ++i) out += fill;
  return Value::string(std::move(out));
}

core::Result<Value> m_center(Interpreter& in, const Value& self, const CallArgs& a) {
  return justify("center", in, self, a, '^');
}
core::Result<Value> m_ljust(Interpreter& in, const Value& self, const CallArgs& a) {
  return justify("ljust", in, self, a, '<');
}
core::Result<Value> m_rjust(Interpreter& in, const Value& self, const CallArgs& a) {
  return justify("rjust", in, self, a, '>');
}

core::Result<Value> m_zfill(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("zfill", args, {"width"}, 1));
  MLXS_ASSIGN_OR_RETURN(const std::int64_t width, b.integer(0, 0));
  const std::string& s = self.as_string();
  const auto len = static_cast<std::int64_t>(unicode::length(s));
  if (width <= len) return self;
  MLXS_RETURN_IF_ERROR(in.charge(static_cast<std::uint64_t>(width)));
  const std::size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
  std::string out = s.substr(0, sign);
  out.append(static_cast<std::size_t>(width - len), '0');
  out += s.substr(sign);
  return Value::string(std::move(out));
}

core::Result<Value> partition_impl(std::string_view name, const Value& self, const CallArgs& args,
                                   bool reverse) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind(name, args, {"sep"}, 1));
  MLXS_ASSIGN_OR_RETURN(auto sep, str_arg(name, b.get(0), 1));
  if (sep.empty()) return type_error("empty separator");
  const std::string& s = self.as_string();
  const std::size_t pos = reverse ? s.rfind(sep) : s.find(sep);
  if (pos == std::string::npos) {
    if (reverse) return Value::tuple({Value::string(""), Value::string(""), self});
    return Value::tuple({self, Value::string(""), Value::string("")});
  }
  return Value::tuple({Value::string(s.substr(0, pos)), Value::string(sep),
                       Value::string(s.substr(pos + sep.size()))});
}

core::Result<Value> m_partition(Interpreter&, const Value& self, const CallArgs& a) {
  return partition_impl("partition", self, a, false);
}
core::Result<Value> m_rpartition(Interpreter&, const Value& self, const CallArgs& a) {
  return partition_impl("rpartition", self, a, true);
}

core::Result<Value> m_removeprefix(Interpreter&, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("removeprefix", args, {"prefix"}, 1));
  MLXS_ASSIGN_OR_RETURN(auto p, str_arg("removeprefix", b.get(0), 1));
  const std::string& s = self.as_string();
  if (s.compare(0, p.size(), p) == 0 && s.size() >= p.size())
    return Value::string(s.substr(p.size()));
  return self;
}

core::Result<Value> m_removesuffix(Interpreter&, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("removesuffix", args, {"suffix"}, 1));
  MLXS_ASSIGN_OR_RETURN(auto p, str_arg("removesuffix", b.get(0), 1));
  const std::string& s = self.as_string();
  if (!p.empty() && s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0) {
    return Value::string(s.substr(0, s.size() - p.size()));
  }
  return self;
}

struct Entry {
  std::string_view name;
  Fn fn;
};

constexpr Entry kMethods[] = {
    {"capitalize", m_capitalize},
    {"casefold", m_lower},
    {"center", m_center},
    {"count", m_count},
    {"endswith", m_endswith},
    {"find", m_find},
    {"format", m_format},
    {"index", m_index},
    {"isalnum", m_isalnum},
    {"isalpha", m_isalpha},
    {"isdecimal", m_isdigit},
    {"isdigit", m_isdigit},
    {"islower", m_islower},
    {"isnumeric", m_isdigit},
    {"isspace", m_isspace},
    {"isupper", m_isupper},
    {"join", m_join},
    {"ljust", m_ljust},
    {"lower", m_lower},
    {"lstrip", m_lstrip},
    {"partition", m_partition},
    {"removeprefix", m_removeprefix},
    {"removesuffix", m_removesuffix},
    {"replace", m_replace},
    {"rfind", m_rfind},
    {"rindex", m_rindex},
    {"rjust", m_rjust},
    {"rpartition", m_rpartition},
    {"rsplit", m_rsplit},
    {"rstrip", m_rstrip},
    {"split", m_split},
    {"splitlines", m_splitlines},
    {"startswith", m_startswith},
    {"strip", m_strip},
    {"swapcase", m_swapcase},
    {"title", m_title},
    {"upper", m_upper},
    {"zfill", m_zfill},
};

}  // namespace

Callable::Fn find_str_method(std::string_view name) {
  for (const auto& e : kMethods) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl,
                       std::int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `repl` before every code point and at the end.
    std::int64_t done = 0;
    std::size_t pos = 0;
    while (pos <= s.size()) {
      if (count >= 0 && done >= count) {
        out += s.substr(pos);
        return out;
      }
      out += repl;
      ++done;
      if (pos == s.size()) break;
      const std::size_t start = pos;
      unicode::decode(s, pos);
      out += s.substr(start, pos - start);
    }
    return out;
  }
  std::size_t pos = 0;
  std::int64_t done = 0;
  while (count < 0 || done < count) {
    const std::size_t hit = s.find(old, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += repl;
    pos = hit + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

List py_split(const std::string& s, const std::string* sep, std::int64_t maxsplit) {
  List parts;
  if (sep != nullptr) {
    std::size_t pos = 0;
    std::int64_t splits = 0;
    while (maxsplit < 0 || splits < maxsplit) {
      const std::size_t hit = s.find(*sep, pos);
      if (hit == std::string::npos) break;
      parts.push_back(Value::string(s.substr(pos, hit - pos)));
      pos = hit + sep->size();
      ++splits;
    }
    parts.push_back(Value::string(s.substr(pos)));
    return parts;
  }
  std::size_t pos = 0;
  std::int64_t splits = 0;
  const auto skip_space = [&](std::size_t p) {
    while (p < s.size()) {
      std::size_t q = p;
      if (!unicode::is_space(unicode::decode(s, q))) break;
      p = q;
    }
    return p;
  };
  while (true) {
    pos = skip_space(pos);
    if (pos >= s.size()) break;
    if (maxsplit >= 0 && splits >= maxsplit) {
      parts.push_back(Value::string(s.substr(pos)));
      break;
    }
    std::size_t end = pos;
    while (end < s.size()) {
      std::size_t q = end;
      if (unicode::is_space(unicode::decode(s, q))) break;
      end = q;
    }
    parts.push_back(Value::string(s.substr(pos, end - pos)));
    pos = end;
    ++splits;
  }
  return parts;
}

List py_splitlines(const std::string& s, bool keepends) {
  List lines;
  std::size_t start = 0;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t at = pos;
    const char32_t cp = unicode::decode(s, pos);
    const bool is_break = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C ||
                          cp == 0x1D || cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!is_break) continue;
    if (cp == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    lines.push_back(Value::string(s.substr(start, (keepends ? pos : at) - start)));
    start = pos;
  }
  if (start < s.size()) lines.push_back(Value::string(s.substr(start)));
  return lines;
}

}  // namespace mlxs::template_
