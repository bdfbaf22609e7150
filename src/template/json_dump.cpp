#include "template/json_dump.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "template/operators.h"
#include "template/unicode.h"

namespace mlxs::template_ {
namespace {

void append_escaped(std::string& out, const std::string& s, bool ensure_ascii) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto u_escape = [&](unsigned cp) {
    out += "\\u";
    for (int k = 3; k >= 0; --k) out.push_back(kHex[(cp >> (4 * k)) & 0xF]);
  };
  out.push_back('"');
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t start = pos;
    const char32_t cp = unicode::decode(s, pos);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      u_escape(cp);
    } else if (ensure_ascii && cp > 0x7E) {
      if (cp >= 0x10000) {
        const char32_t v = cp - 0x10000;
        u_escape(0xD800 + (v >> 10));
        u_escape(0xDC00 + (v & 0x3FF));
      } else {
        u_escape(cp);
      }
    } else {
      out.append(s, start, pos - start);
    }
  }
  out.push_back('"');
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& o) : o_(o) {
    item_sep_ = o.item_separator ? *o.item_separator : (o.indent ? "," : ", ");
    key_sep_ = o.key_separator ? *o.key_separator : ": ";
  }

  core::Status dump(const Value& v, int level) {
    if (out.size() > o_.max_bytes) return type_error("tojson output too large");
    switch (v.kind()) {
      case Value::Kind::kNone:
        out += "null";
        return core::Status::ok();
      case Value::Kind::kBool:
        out += v.as_bool() ? "true" : "false";
        return core::Status::ok();
      case Value::Kind::kInt:
        out += std::to_string(v.as_int());
        return core::Status::ok();
      case Value::Kind::kFloat:
        out += float_text(v.as_float());
        return core::Status::ok();
      case Value::Kind::kString:
        append_escaped(out, v.as_string(), o_.ensure_ascii);
        return core::Status::ok();
      case Value::Kind::kList:
      case Value::Kind::kTuple: {
        const List& items = v.as_list();
        if (items.empty()) {
          out += "[]";
          return core::Status::ok();
        }
        out.push_back('[');
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (i > 0) out += item_sep_;
          newline(level + 1);
          MLXS_RETURN_IF_ERROR(dump(items[i], level + 1));
        }
        newline(level);
        out.push_back(']');
        return core::Status::ok();
      }
      case Value::Kind::kDict:
        return dump_dict(v.as_dict(), level);
      case Value::Kind::kUndefined:
      case Value::Kind::kGenerator:
      case Value::Kind::kNamespace:
      case Value::Kind::kCallable:
      case Value::Kind::kLoop:
        break;
    }
    return type_error("Object of type " + type_name(v) + " is not JSON serializable");
  }

  std::string out;

 private:
  static std::string float_text(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
  }

  core::Result<std::string> key_text(const Value& k) const {
    switch (k.kind()) {
      case Value::Kind::kString:
        return k.as_string();
      case Value::Kind::kInt:
        return std::to_string(k.as_int());
      case Value::Kind::kFloat:
        return float_text(k.as_float());
      case Value::Kind::kBool:
        return std::string(k.as_bool() ? "true" : "false");
      case Value::Kind::kNone:
        return std::string("null");
      case Value::Kind::kUndefined:
      case Value::Kind::kList:
      case Value::Kind::kTuple:
      case Value::Kind::kGenerator:
      case Value::Kind::kDict:
      case Value::Kind::kNamespace:
      case Value::Kind::kCallable:
      case Value::Kind::kLoop:
        break;
    }
    return type_error("keys must be str, int, float, bool or None, not " + type_name(k));
  }

  core::Status dump_dict(const Dict& d, int level) {
    if (d.size() == 0) {
      out += "{}";
      return core::Status::ok();
    }
    std::vector<std::pair<std::string, const Value*>> entries;
    entries.reserve(d.size());
    for (const auto& [k, v] : d.items) {
      MLXS_ASSIGN_OR_RETURN(auto key, key_text(k));
      entries.emplace_back(std::move(key), &v);
    }
    if (o_.sort_keys) {
      // Python sorts the original keys; for str keys this is code point order.
      for (const auto& [k, v] : d.items) {
        if (!k.is_string())
          return type_error("'<' not supported between instances of non-str keys");
      }
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    out.push_back('{');
    bool first = true;
    for (const auto& [key, value] : entries) {
      if (!first) out += item_sep_;
      first = false;
      newline(level + 1);
      append_escaped(out, key, o_.ensure_ascii);
      out += key_sep_;
      MLXS_RETURN_IF_ERROR(dump(*value, level + 1));
    }
    newline(level);
    out.push_back('}');
    return core::Status::ok();
  }

  void newline(int level) {
    if (!o_.indent) return;
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out += *o_.indent;
  }

  const JsonDumpOptions& o_;
  std::string item_sep_;
  std::string key_sep_;
};

}  // namespace

core::Result<std::string> json_dumps(const Value& v, const JsonDumpOptions& options) {
  Dumper d(options);
  MLXS_RETURN_IF_ERROR(d.dump(v, 0));
  if (d.out.size() > options.max_bytes) return type_error("tojson output too large");
  return std::move(d.out);
}

}  // namespace mlxs::template_
