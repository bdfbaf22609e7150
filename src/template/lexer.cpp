#include "template/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "template/unicode.h"

namespace mlxs::template_ {
namespace {

bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_ascii_digit(c);
}

// \r\n and \r become \n; one trailing newline goes (jinja2's keep_trailing_newline=False).
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string source, const LexOptions& options) : src_(std::move(source)), opt_(options) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  core::Result<std::vector<Token>> run() {
    std::size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      const std::size_t tag = find_tag(pos);
      if (tag == std::string::npos) {
        emit_data(pos, std::string_view(src_).substr(pos));
        break;
      }
      const char kind = src_[tag + 1];
      const char mod = modifier(tag + 2);
      std::string_view text = std::string_view(src_).substr(pos, tag - pos);
      const std::size_t after_mod = tag + 2 + (mod != 0 ? 1 : 0);

      std::size_t raw_body = 0;
      const bool raw = kind == '%' && match_raw_begin(after_mod, raw_body);
      text = strip_before(text, mod, kind != '{', line_starting);
      emit_data(pos, text);

      if (raw) {
        MLXS_RETURN_IF_ERROR(lex_raw(tag, raw_body, pos, line_starting));
        continue;
      }
      if (kind == '#') {
        MLXS_RETURN_IF_ERROR(lex_comment(tag, after_mod, pos, line_starting));
        continue;
      }
      MLXS_RETURN_IF_ERROR(lex_tag(kind == '{', tag, after_mod, pos, line_starting));
    }
    Token eof;
    eof.kind = TokenKind::kEof;
    locate(eof, src_.size());
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  std::size_t find_tag(std::size_t from) const {
    for (std::size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return std::string::npos;
  }

  char modifier(std::size_t at) const {
    return at < src_.size() && (src_[at] == '-' || src_[at] == '+') ? src_[at] : '\0';
  }

  bool starts_with(std::size_t at, std::string_view what) const {
    return at <= src_.size() && std::string_view(src_).substr(at).substr(0, what.size()) == what;
  }

  // Python's \s (Unicode whitespace); returns the position after the run.
  std::size_t skip_space(std::size_t at) const {
    while (at < src_.size()) {
      std::size_t next = at;
      if (!unicode::is_space(unicode::decode(src_, next))) break;
      at = next;
    }
    return at;
  }

  // {% raw %} / {%- raw -%}; sets `body` to where the raw text starts.
  bool match_raw_begin(std::size_t at, std::size_t& body) const {
    at = skip_space(at);
    if (!starts_with(at, "raw")) return false;
    at = skip_space(at + 3);
    if (starts_with(at, "-%}")) {
      body = skip_space(at + 3);
      return true;
    }
    if (starts_with(at, "%}")) {
      body = at + 2;
      return true;
    }
    return false;
  }

  // Whitespace control in front of a tag: `-` strips all whitespace before it;
  // lstrip_blocks strips spaces/tabs back to the line start for block and
  // comment tags unless `+` says otherwise.
  std::string_view strip_before(std::string_view text, char mod, bool lstrip_kind,
                                bool line_starting) const {
    if (mod == '-') return unicode::strip(text, nullptr, false, true);
    if (mod == '+' || !opt_.lstrip_blocks || !lstrip_kind) return text;
    const std::size_t nl = text.rfind('\n');
    const std::size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting) return text;
    const std::string_view tail = text.substr(l_pos);
    if (tail.empty()) return text;
    for (std::size_t p = 0; p < tail.size();) {
      if (!unicode::is_space(unicode::decode(tail, p))) return text;
    }
    return text.substr(0, l_pos);
  }

  // After a block-like end tag: `-` eats following whitespace, trim_blocks eats one \n.
  std::size_t after_end(std::size_t end, char mod, bool trim) const {
    if (mod == '-') return skip_space(end);
    if (mod == '\0' && trim && end < src_.size() && src_[end] == '\n') return end + 1;
    return end;
  }

  core::Status lex_raw(std::size_t tag, std::size_t body, std::size_t& pos, bool& line_starting) {
    const bool body_line_starting = body > 0 && src_[body - 1] == '\n';
    for (std::size_t q = src_.find("{%", body); q != std::string::npos;
         q = src_.find("{%", q + 1)) {
      const char mod = modifier(q + 2);
      std::size_t at = skip_space(q + 2 + (mod != 0 ? 1 : 0));
      if (!starts_with(at, "endraw")) continue;
      at = skip_space(at + 6);
      char end_mod = '\0';
      if (starts_with(at, "+%}") || starts_with(at, "-%}")) {
        end_mod = src_[at];
        at += 3;
      } else if (starts_with(at, "%}")) {
        at += 2;
      } else {
        continue;
      }
      std::string_view text = std::string_view(src_).substr(body, q - body);
      text = strip_before(text, mod, true, body_line_starting);
      emit_data(body, text);
      pos = after_end(at, end_mod, opt_.trim_blocks);
      line_starting = pos > 0 && src_[pos - 1] == '\n';
      return core::Status::ok();
    }
    return error_at(tag, "Missing end of raw directive");
  }

  core::Status lex_comment(std::size_t tag, std::size_t body, std::size_t& pos,
                           bool& line_starting) {
    if (body >= src_.size()) {  // jinja2's comment rule needs one more character to fail
      pos = src_.size();
      return core::Status::ok();
    }
    for (std::size_t q = body; q < src_.size(); ++q) {
      std::size_t end = 0;
      char mod = '\0';
      if ((src_[q] == '+' || src_[q] == '-') && starts_with(q + 1, "#}")) {
        mod = src_[q];
        end = q + 3;
      } else if (starts_with(q, "#}")) {
        end = q + 2;
      } else {
        continue;
      }
      pos = after_end(end, mod, opt_.trim_blocks);
      line_starting = src_[pos - 1] == '\n';
      return core::Status::ok();
    }
    return error_at(tag, "Missing end of comment tag");
  }

  core::Status lex_tag(bool variable, std::size_t tag, std::size_t at, std::size_t& pos,
                       bool& line_starting) {
    push(variable ? TokenKind::kVarBegin : TokenKind::kBlockBegin, tag, src_.substr(tag, 2));
    std::string balance;  // closers we still expect
    while (true) {
      if (at >= src_.size()) {
        return error_at(at, variable ? "unexpected end of template, expected '}}'"
                                     : "unexpected end of template, expected '%}'");
      }
      if (balance.empty()) {
        std::size_t end = 0;
        char mod = '\0';
        if (variable) {
          if (starts_with(at, "-}}")) {
            mod = '-';
            end = at + 3;
          } else if (starts_with(at, "}}")) {
            end = at + 2;
          }
        } else if ((src_[at] == '+' || src_[at] == '-') && starts_with(at + 1, "%}")) {
          mod = src_[at];
          end = at + 3;
        } else if (starts_with(at, "%}")) {
          end = at + 2;
        }
        if (end != 0) {
          push(variable ? TokenKind::kVarEnd : TokenKind::kBlockEnd, at, "");
          pos = after_end(end, mod, !variable && opt_.trim_blocks);
          line_starting = src_[pos - 1] == '\n';
          return core::Status::ok();
        }
      }
      const char c = src_[at];
      std::size_t next = at;
      if (unicode::is_space(unicode::decode(src_, next))) {
        at = next;
        continue;
      }
      if (is_ascii_digit(c)) {
        MLXS_RETURN_IF_ERROR(lex_number(at));
        continue;
      }
      if (is_name_start(c)) {
        std::size_t end = at;
        while (end < src_.size() && is_name_char(src_[end])) ++end;
        push(TokenKind::kName, at, src_.substr(at, end - at));
        at = end;
        continue;
      }
      if (c == '\'' || c == '"') {
        MLXS_RETURN_IF_ERROR(lex_string(at));
        continue;
      }
      MLXS_RETURN_IF_ERROR(lex_operator(at, balance));
    }
  }

  core::Status lex_operator(std::size_t& at, std::string& balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const auto op : kTwo) {
      if (starts_with(at, op)) {
        push(TokenKind::kOperator, at, std::string(op));
        at += 2;
        return core::Status::ok();
      }
    }
    const char c = src_[at];
    static constexpr std::string_view kOne = "+-/*%~[](){}.:|,;=<>";
    if (kOne.find(c) == std::string_view::npos) {
      std::size_t next = at;
      std::string shown;
      unicode::append(shown, unicode::decode(src_, next));
      return error_at(at, "unexpected char '" + shown + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) return error_at(at, std::string("unexpected '") + c + "'");
      if (balance.back() != c) {
        return error_at(at,
                        std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      }
      balance.pop_back();
    }
    push(TokenKind::kOperator, at, std::string(1, c));
    ++at;
    return core::Status::ok();
  }

  // Digits with optional single underscores between them.
  std::size_t scan_digits(std::size_t at, bool (*ok)(char)) const {
    if (at >= src_.size() || !ok(src_[at])) return at;
    std::size_t end = at + 1;
    while (end < src_.size()) {
      if (ok(src_[end])) {
        ++end;
      } else if (src_[end] == '_' && end + 1 < src_.size() && ok(src_[end + 1])) {
        end += 2;
      } else {
        break;
      }
    }
    return end;
  }

  core::Status lex_number(std::size_t& at) {
    const auto dec = [](char ch) { return is_ascii_digit(ch); };
    // Float first (jinja2 tries it before integers), never right after a '.'.
    if (at == 0 || src_[at - 1] != '.') {
      const std::size_t int_end = scan_digits(at, dec);
      std::size_t end = int_end;
      bool is_float = false;
      if (end < src_.size() && src_[end] == '.' && end + 1 < src_.size() &&
          is_ascii_digit(src_[end + 1])) {
        end = scan_digits(end + 1, dec);
        is_float = true;
      }
      if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
        std::size_t e = end + 1;
        if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
        const std::size_t exp_end = scan_digits(e, dec);
        if (exp_end > e) {
          end = exp_end;
          is_float = true;
        }
      }
      if (is_float) {
        std::string text;
        for (std::size_t i = at; i < end; ++i) {
          if (src_[i] != '_') text.push_back(src_[i]);
        }
        Token t;
        t.kind = TokenKind::kFloat;
        t.float_value = std::strtod(text.c_str(), nullptr);  // inf on overflow, like Python
        t.text = text;
        locate(t, at);
        tokens_.push_back(std::move(t));
        at = end;
        return core::Status::ok();
      }
    }
    int base = 10;
    std::size_t digits = at;
    std::size_t end = at;
    const char p = at + 1 < src_.size() ? static_cast<char>(src_[at + 1] | 0x20) : '\0';
    if (src_[at] == '0' && (p == 'b' || p == 'o' || p == 'x')) {
      base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
      std::size_t q = at + 2;
      const auto ok =
          base == 2   ? +[](char ch) { return ch == '0' || ch == '1'; }
          : base == 8 ? +[](char ch) { return ch >= '0' && ch <= '7'; }
                      : +[](char ch) {
                          return is_ascii_digit(ch) || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
                        };
      if (q < src_.size() && src_[q] == '_') ++q;  // 0x_ff is allowed
      end = scan_digits(q, ok);
      if (end == q) {
        end = at + 1;  // just "0"; the letter starts a name
        base = 10;
      } else {
        digits = at + 2;
      }
    } else if (src_[at] == '0') {
      end = scan_digits(at, [](char ch) { return ch == '0'; });
    } else {
      end = scan_digits(at, dec);
    }
    std::string text;
    for (std::size_t i = digits; i < end; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    errno = 0;
    const long long v = std::strtoll(text.c_str(), nullptr, base);
    if (errno == ERANGE) return error_at(at, "integer literal too large");
    Token t;
    t.kind = TokenKind::kInteger;
    t.int_value = v;
    t.text = src_.substr(at, end - at);
    locate(t, at);
    tokens_.push_back(std::move(t));
    at = end;
    return core::Status::ok();
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  // Python's unicode-escape rules, as jinja2 applies them to string literals.
  core::Status lex_string(std::size_t& at) {
    const char quote = src_[at];
    std::string value;
    std::size_t i = at + 1;
    while (true) {
      if (i >= src_.size()) return error_at(at, "unexpected char '" + std::string(1, quote) + "'");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size())
        return error_at(at, "unexpected char '" + std::string(1, quote) + "'");
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n':
          break;
        case '\\':
          value.push_back('\\');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int h = i < src_.size() ? hex_value(src_[i]) : -1;
            if (h < 0) {
              return error_at(at, std::string("truncated \\") + e +
                                      std::string(static_cast<std::size_t>(n), 'X') + " escape");
            }
            cp = cp * 16 + static_cast<char32_t>(h);
            ++i;
          }
          if (cp > 0x10FFFF) return error_at(at, "illegal Unicode character");
          unicode::append(value, cp);
          break;
        }
        case 'N':
          return error_at(at, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7';
                 ++k, ++i) {
              cp = cp * 8 + static_cast<char32_t>(src_[i] - '0');
            }
            unicode::append(value, cp);
          } else if (static_cast<unsigned char>(e) >= 0x80) {
            // jinja2 backslash-escapes non-ASCII before decoding: "\é" becomes "\xe9".
            std::size_t p = i - 1;
            const char32_t cp = unicode::decode(src_, p);
            i = p;
            static constexpr char kHex[] = "0123456789abcdef";
            const int n = cp < 0x100 ? 2 : cp < 0x10000 ? 4 : 8;
            value += cp < 0x100 ? "\\x" : cp < 0x10000 ? "\\u" : "\\U";
            for (int k = n - 1; k >= 0; --k) value.push_back(kHex[(cp >> (4 * k)) & 0xF]);
          } else {
            value.push_back('\\');  // unknown escapes stay as written
            value.push_back(e);
          }
          break;
      }
    }
    Token t;
    t.kind = TokenKind::kString;
    t.text = std::move(value);
    locate(t, at);
    tokens_.push_back(std::move(t));
    at = i + 1;
    return core::Status::ok();
  }

  void emit_data(std::size_t at, std::string_view text) {
    if (text.empty()) return;
    push(TokenKind::kData, at, std::string(text));
  }

  void push(TokenKind kind, std::size_t at, std::string text) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    locate(t, at);
    tokens_.push_back(std::move(t));
  }

  // Columns count code points; the cache keeps long single-line sources linear.
  void locate(Token& t, std::size_t at) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), at);
    const std::size_t line_start = *(it - 1);
    t.line = static_cast<int>(it - line_starts_.begin());
    if (cache_line_start_ != line_start || cache_at_ > at) {
      cache_line_start_ = line_start;
      cache_at_ = line_start;
      cache_column_ = 1;
    }
    cache_column_ += unicode::length(std::string_view(src_).substr(cache_at_, at - cache_at_));
    cache_at_ = at;
    t.column = static_cast<int>(cache_column_);
  }

  core::Status error_at(std::size_t at, std::string_view message) const {
    Token t;
    locate(t, std::min(at, src_.size()));
    return template_error(t.line, t.column, message);
  }

  std::string src_;
  LexOptions opt_;
  std::vector<std::size_t> line_starts_;
  std::vector<Token> tokens_;
  mutable std::size_t cache_line_start_ = 0;
  mutable std::size_t cache_at_ = 0;
  mutable std::size_t cache_column_ = 1;
};

}  // namespace

core::Status template_error(int line, int column, std::string_view message) {
  return core::make_error(core::ErrorCode::kTemplateError, "line {}, column {}: {}", line, column,
                          message);
}

core::Result<std::vector<Token>> tokenize(std::string_view source, const LexOptions& options) {
  return Lexer(normalize_newlines(source), options).run();
}

}  // namespace mlxs::template_
