#include "template/pyformat.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "template/interpreter.h"
#include "template/operators.h"
#include "template/unicode.h"

namespace mlxs::template_ {
namespace {

constexpr std::size_t kMaxWidth = 1u << 20;  // keeps "%999999999s" from allocating gigabytes

std::string pad(std::string text, std::size_t width, char align, std::string_view fill = " ") {
  const std::size_t len = unicode::length(text);
  if (len >= width) return text;
  const std::size_t n = width - len;
  std::string padding;
  for (std::size_t i = 0; i < n; ++i) padding += fill;
  if (align == '<') return text + padding;
  if (align == '^') {
    std::string left;
    std::string right;
    for (std::size_t i = 0; i < n / 2; ++i) left += fill;
    for (std::size_t i = 0; i < n - n / 2; ++i) right += fill;
    return left + text + right;
  }
  return padding + text;
}

std::string truncate_cp(const std::string& s, std::size_t n) {
  return s.substr(0, unicode::byte_offset(s, n));
}

// printf with a format assembled from checked pieces (flags, width,
// precision, one conversion), so the non-literal format is safe here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
std::string c_format(const std::string& spec, double v) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof(buf), spec.c_str(), v);
  if (n < 0) return {};
  if (static_cast<std::size_t>(n) < sizeof(buf))
    return std::string(buf, static_cast<std::size_t>(n));
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), spec.c_str(), v);
  big.resize(static_cast<std::size_t>(n));
  return big;
}
#pragma GCC diagnostic pop

// Integer digits in base 2/8/10/16 with Python's prefixes.
std::string int_digits(std::int64_t v, char type, bool alternate) {
  const bool neg = v < 0;
  unsigned long long u =
      neg ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
  const int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
  const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[u % static_cast<unsigned>(base)]);
    u /= static_cast<unsigned>(base);
  } while (u != 0);
  if (alternate && base != 10) {
    out.insert(0, type == 'b' ? "0b" : type == 'o' ? "0o" : type == 'X' ? "0X" : "0x");
  }
  if (neg) out.insert(out.begin(), '-');
  return out;
}

std::string group_digits(const std::string& s, char sep) {
  std::size_t start = (!s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) ? 1 : 0;
  std::size_t end = s.find_first_not_of("0123456789", start);
  if (end == std::string::npos) end = s.size();
  std::string digits = s.substr(start, end - start);
  std::string grouped;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(sep);
    grouped.push_back(digits[i]);
  }
  return s.substr(0, start) + grouped + s.substr(end);
}

}  // namespace

// ------------------------------------------------------------ %-formatting

core::Result<std::string> percent_format(Interpreter& in, const std::string& format,
                                         const Value& args, bool escape) {
  std::vector<Value> items;
  const Dict* mapping = nullptr;
  // Python treats any non-tuple, non-str argument with __getitem__ (dict,
  // list, Undefined) as a possible mapping: leftovers are then no error.
  bool mapping_like = false;
  if (args.is_tuple()) {
    items = args.as_list();
  } else {
    items.push_back(args);
    if (args.is_dict()) mapping = &args.as_dict();
    mapping_like = args.is_dict() || args.is_list() || args.is_undefined();
  }
  std::size_t next = 0;
  bool used_key = false;
  std::string out;
  const auto take = [&](Value& v) -> core::Status {
    if (next >= items.size()) return type_error("not enough arguments for format string");
    v = items[next++];
    return core::Status::ok();
  };
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    const std::size_t start = i;
    if (++i >= format.size()) return type_error("incomplete format");
    Value value;
    bool have_value = false;
    if (format[i] == '(') {
      if (mapping == nullptr) {
        if (args.is_undefined()) return undefined_error(args);
        if (args.is_list()) return type_error("list indices must be integers or slices, not str");
        return type_error("format requires a mapping");
      }
      int level = 1;
      const std::size_t key_start = ++i;
      while (i < format.size() && level > 0) {
        if (format[i] == '(') ++level;
        if (format[i] == ')') --level;
        ++i;
      }
      if (level > 0) return type_error("incomplete format key");
      const std::string key = format.substr(key_start, i - 1 - key_start);
      const Value* found = mapping->find(std::string_view(key));
      if (found == nullptr) return type_error("'" + key + "'");
      value = *found;
      have_value = true;
      used_key = true;
    }
    std::string flags;
    while (i < format.size() &&
           std::string_view("-+ #0").find(format[i]) != std::string_view::npos) {
      flags.push_back(format[i++]);
    }
    std::size_t width = 0;
    if (i < format.size() && format[i] == '*') {
      Value w;
      MLXS_RETURN_IF_ERROR(take(w));
      if (!w.is_int()) return type_error("* wants int");
      if (w.as_int() < 0) flags.push_back('-');
      width = static_cast<std::size_t>(std::llabs(w.as_int()));
      ++i;
    } else {
      while (i < format.size() && format[i] >= '0' && format[i] <= '9')
        width = std::min(width * 10 + static_cast<std::size_t>(format[i++] - '0'), kMaxWidth + 1);
    }
    int precision = -1;
    if (i < format.size() && format[i] == '.') {
      ++i;
      precision = 0;
      if (i < format.size() && format[i] == '*') {
        Value p;
        MLXS_RETURN_IF_ERROR(take(p));
        if (!p.is_int()) return type_error("* wants int");
        precision =
            static_cast<int>(std::max<std::int64_t>(0, std::min<std::int64_t>(p.as_int(), 1000)));
        ++i;
      } else {
        while (i < format.size() && format[i] >= '0' && format[i] <= '9')
          precision = std::min(precision * 10 + (format[i++] - '0'), 100000);
      }
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) return type_error("incomplete format");
    if (width > kMaxWidth) return type_error("format width too large");
    const char conv = format[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_value) MLXS_RETURN_IF_ERROR(take(value));
    const bool left = flags.find('-') != std::string::npos;
    const bool zero = flags.find('0') != std::string::npos && !left;
    std::string text;
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        if (conv == 's') {
          MLXS_ASSIGN_OR_RETURN(text, in.str(value));
        } else {
          MLXS_ASSIGN_OR_RETURN(text, in.repr(value));
        }
        if (escape && !value.is_markup()) text = html_escape(text);
        if (precision >= 0) text = truncate_cp(text, static_cast<std::size_t>(precision));
        out += pad(text, width, left ? '<' : '>');
        continue;
      }
      case 'c': {
        if (value.is_string() && unicode::length(value.as_string()) == 1) {
          text = value.as_string();
        } else if (value.is_int() && value.as_int() >= 0 && value.as_int() <= 0x10FFFF) {
          unicode::append(text, static_cast<char32_t>(value.as_int()));
        } else {
          return type_error("%c requires int or char");
        }
        out += pad(text, width, left ? '<' : '>');
        continue;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        if (!value.is_number()) {
          if (value.is_undefined()) return undefined_error(value);
          return type_error(
              std::string("%") + conv + " format: " +
              (conv == 'd' || conv == 'i' || conv == 'u' ? "a real number" : "an integer") +
              " is required, not " + type_name(value));
        }
        if (value.is_float() && conv != 'd' && conv != 'i' && conv != 'u') {
          return type_error(std::string("%") + conv + " format: an integer is required, not float");
        }
        const double f = value.as_float();
        if (value.is_float() && (std::isnan(f) || std::isinf(f) || std::fabs(f) >= 9.2e18)) {
          return type_error("cannot convert float to integer");
        }
        const std::int64_t n = value.is_float() ? static_cast<std::int64_t>(f) : value.as_int();
        std::string digits = int_digits(n < 0 ? -n : n, conv == 'u' || conv == 'i' ? 'd' : conv,
                                        flags.find('#') != std::string::npos);
        if (precision >= 0 && digits.size() < static_cast<std::size_t>(precision)) {
          digits.insert(0, static_cast<std::size_t>(precision) - digits.size(), '0');
        }
        std::string sign = n < 0                                  ? "-"
                           : flags.find('+') != std::string::npos ? "+"
                           : flags.find(' ') != std::string::npos ? " "
                                                                  : "";
        if (zero && sign.size() + digits.size() < width)
          digits.insert(0, width - sign.size() - digits.size(), '0');
        out += pad(sign + digits, width, left ? '<' : '>');
        continue;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!value.is_number()) {
          if (value.is_undefined()) return undefined_error(value);
          return type_error("must be real number, not " + type_name(value));
        }
        std::string spec = "%" + flags;
        if (width > 0) spec += std::to_string(width);
        spec += "." + std::to_string(precision < 0 ? 6 : precision);
        spec.push_back(conv);
        out += c_format(spec, value.as_float());
        continue;
      }
      default:
        return type_error("unsupported format character '" + std::string(1, conv) + "' at index " +
                          std::to_string(start));
    }
  }
  if (!used_key && !mapping_like && next < items.size()) {
    return type_error("not all arguments converted during string formatting");
  }
  return out;
}

// ------------------------------------------------------------ format specs

core::Result<std::string> format_value(const Value& value, const std::string& spec) {
  std::size_t i = 0;
  std::string fill = " ";
  char align = '\0';
  // [[fill]align]
  {
    std::size_t p = 0;
    std::string first;
    if (!spec.empty()) {
      p = 0;
      unicode::append(first, unicode::decode(spec, p));
    }
    if (p < spec.size() && std::string_view("<>=^").find(spec[p]) != std::string_view::npos) {
      fill = first;
      align = spec[p];
      i = p + 1;
    } else if (!spec.empty() && std::string_view("<>=^").find(spec[0]) != std::string_view::npos) {
      align = spec[0];
      i = 1;
    }
  }
  char sign = '\0';
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  bool alternate = false;
  if (i < spec.size() && spec[i] == '#') {
    alternate = true;
    ++i;
  }
  bool zero_pad = false;
  if (i < spec.size() && spec[i] == '0') {
    if (align == '\0') {
      fill = "0";
      align = '=';
      zero_pad = true;
    }
    ++i;
  }
  std::size_t width = 0;
  while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9')
    width = std::min(width * 10 + static_cast<std::size_t>(spec[i++] - '0'), kMaxWidth + 1);
  if (width > kMaxWidth) return type_error("format width too large");
  char grouping = '\0';
  if (i < spec.size() && (spec[i] == ',' || spec[i] == '_')) grouping = spec[i++];
  int precision = -1;
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    precision = 0;
    bool any = false;
    while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
      precision = std::min(precision * 10 + (spec[i++] - '0'), 100000);
      any = true;
    }
    if (!any) return type_error("Format specifier missing precision");
  }
  char type = '\0';
  if (i < spec.size()) type = spec[i++];
  if (i != spec.size()) return type_error("Invalid format specifier '" + spec + "'");

  std::string body;
  if (value.is_string()) {
    if (sign != '\0') return type_error("Sign not allowed in string format specifier");
    if (alternate) return type_error("Alternate form (#) not allowed in string format specifier");
    if (align == '=' && !(fill == "0" && zero_pad))
      return type_error("'=' alignment not allowed in string format specifier");
    if (grouping != '\0')
      return type_error(std::string("Cannot specify '") + grouping + "' with 's'.");
    if (zero_pad && align == '=') align = '<';  // "{:05}" pads a string on the right with zeros
  }
  if (value.is_string() || value.is_none() || value.is_undefined() || value.is_sequence() ||
      value.is_dict()) {
    if (!value.is_string() && !spec.empty()) {
      return type_error("unsupported format string passed to " + type_name(value) + ".__format__");
    }
    if (type != '\0' && type != 's') {
      return type_error(std::string("Unknown format code '") + type + "' for object of type 'str'");
    }
    if (value.is_string()) body = value.as_string();
    if (precision >= 0) body = truncate_cp(body, static_cast<std::size_t>(precision));
    return pad(body, width, align == '\0' ? '<' : align == '=' ? '>' : align, fill);
  }
  if (!value.is_number()) {
    if (!spec.empty())
      return type_error("unsupported format string passed to " + type_name(value) + ".__format__");
    std::string text;
    if (!append_str(text, value, 1u << 20)) return type_error("value too large to format");
    return text;
  }
  const bool as_int =
      (value.is_int() || value.is_bool()) &&
      (type == '\0' || std::string_view("bcdoxXn").find(type) != std::string_view::npos);
  // bool.__format__ is str() only for an empty spec; otherwise it formats as int.
  if (value.is_bool() && spec.empty()) return to_str(value);
  std::string sign_text;
  if (as_int) {
    if (precision >= 0) return type_error("Precision not allowed in integer format specifier");
    const std::int64_t n = value.as_int();
    if (type == 'c') {
      if (n < 0 || n > 0x10FFFF) return type_error("%c arg not in range(0x110000)");
      unicode::append(body, static_cast<char32_t>(n));
    } else {
      body = int_digits(n < 0 ? -n : n, type == '\0' || type == 'n' ? 'd' : type, alternate);
      if (grouping != '\0') body = group_digits(body, grouping);
      sign_text = n < 0 ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
    }
  } else {
    if (!(type == '\0' || std::string_view("eEfFgGn%").find(type) != std::string_view::npos)) {
      return type_error(std::string("Unknown format code '") + type +
                        "' for object of type 'float'");
    }
    double v = value.as_float();
    const bool neg = std::signbit(v) && !std::isnan(v);
    v = std::fabs(v);
    if (type == '\0' && precision < 0) {
      body = float_repr(v);
    } else if (type == '%') {
      body = c_format("%." + std::to_string(precision < 0 ? 6 : precision) + "f", v * 100) + "%";
    } else {
      const char t = type == '\0' || type == 'n' ? 'g' : type;
      std::string s = c_format(std::string("%") + (alternate ? "#" : "") + "." +
                                   std::to_string(precision < 0 ? 6 : precision) + t,
                               v);
      if (type == '\0' && s.find_first_of(".eEn") == std::string::npos) s += ".0";
      body = s;
    }
    if (grouping != '\0') body = group_digits(body, grouping);
    sign_text = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  }
  if (align == '=') {
    const std::size_t len = unicode::length(sign_text) + unicode::length(body);
    std::string padding;
    for (std::size_t k = len; k < width; ++k) padding += fill;
    return sign_text + padding + body;
  }
  return pad(sign_text + body, width, align == '\0' ? '>' : align, fill);
}

// --------------------------------------------------------------- str.format

core::Result<std::string> brace_format(Interpreter& in, const std::string& format,
                                       const CallArgs& args) {
  std::string out;
  std::size_t auto_index = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      return type_error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const std::size_t close = format.find('}', i + 1);
    if (close == std::string::npos) return type_error("expected '}' before end of string");
    std::string field = format.substr(i + 1, close - i - 1);
    if (field.find('{') != std::string::npos)
      return type_error("nested replacement fields are not supported");
    i = close;
    std::string spec;
    char conversion = '\0';
    if (const std::size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    if (const std::size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) return type_error("expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field.resize(bang);
    }
    std::size_t name_end = field.find_first_of(".[");
    if (name_end == std::string::npos) name_end = field.size();
    const std::string head = field.substr(0, name_end);
    Value value;
    if (head.empty() || (head.find_first_not_of("0123456789") == std::string::npos)) {
      const std::size_t index =
          head.empty() ? auto_index++ : static_cast<std::size_t>(std::stoull(head.substr(0, 9)));
      if (index >= args.positional.size()) {
        return type_error("Replacement index " + std::to_string(index) +
                          " out of range for positional args tuple");
      }
      value = args.positional[index];
    } else {
      bool found = false;
      for (const auto& [k, v] : args.keywords) {
        if (k == head) {
          value = v;
          found = true;
        }
      }
      if (!found) return type_error("'" + head + "'");
    }
    std::size_t p = name_end;
    while (p < field.size()) {
      if (field[p] == '.') {
        std::size_t e = field.find_first_of(".[", p + 1);
        if (e == std::string::npos) e = field.size();
        MLXS_ASSIGN_OR_RETURN(value, in.getattr(value, field.substr(p + 1, e - p - 1)));
        p = e;
      } else {
        const std::size_t e = field.find(']', p);
        if (e == std::string::npos) return type_error("Missing ']' in format string");
        const std::string key = field.substr(p + 1, e - p - 1);
        const bool numeric =
            !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
        MLXS_ASSIGN_OR_RETURN(
            value, in.getitem(value, numeric ? Value::integer(std::stoll(key.substr(0, 18)))
                                             : Value::string(key)));
        p = e + 1;
      }
      if (value.is_undefined()) return undefined_error(value);
    }
    if (conversion == 'r' || conversion == 'a') {
      MLXS_ASSIGN_OR_RETURN(auto text, in.repr(value));
      value = Value::string(std::move(text));
    } else if (conversion == 's' || (spec.empty() && !value.is_string())) {
      MLXS_ASSIGN_OR_RETURN(auto text, in.str(value));
      value = Value::string(std::move(text));
    } else if (conversion != '\0') {
      return type_error(std::string("Unknown conversion specifier ") + conversion);
    }
    MLXS_ASSIGN_OR_RETURN(auto text, format_value(value, spec));
    MLXS_RETURN_IF_ERROR(in.charge(text.size()));
    out += text;
  }
  return out;
}

}  // namespace mlxs::template_
