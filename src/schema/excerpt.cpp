#include "schema/excerpt.h"

#include <fmt/format.h>

#include "schema/utf8.h"

namespace mlxs::schema {
namespace {

class Writer {
 public:
  explicit Writer(std::size_t max) : max_(max) {}

  bool full() const { return out_.size() >= max_; }

  void value(const core::Json& v) {
    if (full()) return;
    if (v.is_string()) {
      string(v.get_ref<const std::string&>());
    } else if (v.is_array()) {
      list(v.begin(), v.end());
    } else if (v.is_object()) {
      out_ += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (full()) return;
        if (!first) out_ += ',';
        first = false;
        string(it.key());
        out_ += ':';
        value(it.value());
      }
      out_ += '}';
    } else {
      out_ += v.dump();  // null, booleans and numbers are short
    }
  }

  template <typename It>
  void list(It begin, It end) {
    out_ += '[';
    for (It it = begin; it != end && !full(); ++it) {
      if (it != begin) out_ += ',';
      value(*it);
    }
    out_ += ']';
  }

  std::string take() {
    if (out_.size() > max_) {
      out_.resize(max_);  // ASCII only, so any cut is a character boundary
      out_ += "...";
    }
    return std::move(out_);
  }

 private:
  // A JSON string literal, ASCII-only, reading no more of `s` than fits.
  void string(std::string_view s) {
    out_ += '"';
    for (std::size_t pos = 0; pos < s.size() && !full();) {
      const char32_t cp = utf8::decode(s, pos);
      if (cp == '"' || cp == '\\') {
        out_ += '\\';
        out_ += static_cast<char>(cp);
      } else if (cp >= 0x20 && cp < 0x7F) {
        out_ += static_cast<char>(cp);
      } else if (cp < 0x10000) {
        out_ += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
      } else {
        const char32_t v = cp - 0x10000;
        out_ += fmt::format("\\u{:04x}\\u{:04x}", static_cast<unsigned>(0xD800 + (v >> 10)),
                            static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      }
    }
    out_ += '"';
  }

  std::size_t max_;
  std::string out_;
};

}  // namespace

std::string json_excerpt(const core::Json& value, std::size_t max_chars) {
  Writer w(max_chars);
  w.value(value);
  return w.take();
}

std::string json_excerpt(const std::vector<core::Json>& values, std::size_t max_chars) {
  Writer w(max_chars);
  w.list(values.begin(), values.end());
  return w.take();
}

std::string one_line(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < text.size(); ++count) {
    if (count >= max_chars) {
      out += "...";
      break;
    }
    const char32_t cp = utf8::decode(text, pos);
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned>(cp));
    } else {
      utf8::append(out, cp);
    }
  }
  return out;
}

}  // namespace mlxs::schema
