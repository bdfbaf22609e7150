#include "schema/regex_syntax.h"

#include <array>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "schema/unicode_data.h"
#include "schema/utf8.h"

namespace mlxs::schema {
namespace {

constexpr char32_t kNone = 0xFFFFFFFF;

bool is_syntax_char(char32_t c) {
  return c == '^' || c == '$' || c == '\\' || c == '.' || c == '*' || c == '+' || c == '?' ||
         c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '|';
}
bool is_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_ascii_letter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
int hex_value(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
  return -1;
}
bool is_name_char(char32_t c, bool first) {
  if (is_ascii_letter(c) || c == '_' || c == '$') return true;
  if (!first && is_digit(c)) return true;
  if (c < 0x80) return false;
  const GeneralCategory cat = general_category(c);
  const auto k = static_cast<int>(cat);
  const bool letter =
      k >= static_cast<int>(GeneralCategory::kLu) && k <= static_cast<int>(GeneralCategory::kLo);
  if (letter || cat == GeneralCategory::kNl) return true;
  return !first && (cat == GeneralCategory::kMn || cat == GeneralCategory::kMc ||
                    cat == GeneralCategory::kNd || cat == GeneralCategory::kPc);
}

CodePointSet digit_set() {
  return CodePointSet::range('0', '9');
}
CodePointSet word_set() {
  CodePointSet s = CodePointSet::range('a', 'z');
  s.add('A', 'Z');
  s.add('0', '9');
  s.add('_');
  return s;
}
CodePointSet space_set() {
  // ECMAScript WhiteSpace + LineTerminator: a few fixed code points plus Zs.
  std::vector<CodePointSet::Range> ranges = {
      {0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x2028, 0x2029}, {0xFEFF, 0xFEFF}};
  for (const CategoryRange& r : category_ranges()) {
    if (r.category == static_cast<std::uint8_t>(GeneralCategory::kZs))
      ranges.emplace_back(r.first, r.last);
  }
  return CodePointSet::from_ranges(std::move(ranges));
}
CodePointSet dot_set() {
  // Everything but the line terminators (no dotAll flag in JSON Schema).
  CodePointSet s = CodePointSet::of('\n');
  s.add('\r');
  s.add(0x2028, 0x2029);
  return s.complement();
}

// A general-category value: its short and long names and the categories it
// covers (the one-letter groups cover several).
struct CategoryName {
  std::string_view short_name;
  std::string_view long_name;
  std::string_view alias;
  std::uint8_t first;  // GeneralCategory range [first, last]
  std::uint8_t last;
};

constexpr auto cat(GeneralCategory c) {
  return static_cast<std::uint8_t>(c);
}

constexpr std::array<CategoryName, 38> kCategoryNames = {{
    {"L", "Letter", "", cat(GeneralCategory::kLu), cat(GeneralCategory::kLo)},
    {"Lu", "Uppercase_Letter", "", cat(GeneralCategory::kLu), cat(GeneralCategory::kLu)},
    {"Ll", "Lowercase_Letter", "", cat(GeneralCategory::kLl), cat(GeneralCategory::kLl)},
    {"Lt", "Titlecase_Letter", "", cat(GeneralCategory::kLt), cat(GeneralCategory::kLt)},
    {"LC", "Cased_Letter", "", cat(GeneralCategory::kLu), cat(GeneralCategory::kLt)},
    {"Lm", "Modifier_Letter", "", cat(GeneralCategory::kLm), cat(GeneralCategory::kLm)},
    {"Lo", "Other_Letter", "", cat(GeneralCategory::kLo), cat(GeneralCategory::kLo)},
    {"M", "Mark", "Combining_Mark", cat(GeneralCategory::kMn), cat(GeneralCategory::kMe)},
    {"Mn", "Nonspacing_Mark", "", cat(GeneralCategory::kMn), cat(GeneralCategory::kMn)},
    {"Mc", "Spacing_Mark", "", cat(GeneralCategory::kMc), cat(GeneralCategory::kMc)},
    {"Me", "Enclosing_Mark", "", cat(GeneralCategory::kMe), cat(GeneralCategory::kMe)},
    {"N", "Number", "", cat(GeneralCategory::kNd), cat(GeneralCategory::kNo)},
    {"Nd", "Decimal_Number", "digit", cat(GeneralCategory::kNd), cat(GeneralCategory::kNd)},
    {"Nl", "Letter_Number", "", cat(GeneralCategory::kNl), cat(GeneralCategory::kNl)},
    {"No", "Other_Number", "", cat(GeneralCategory::kNo), cat(GeneralCategory::kNo)},
    {"P", "Punctuation", "punct", cat(GeneralCategory::kPc), cat(GeneralCategory::kPo)},
    {"Pc", "Connector_Punctuation", "", cat(GeneralCategory::kPc), cat(GeneralCategory::kPc)},
    {"Pd", "Dash_Punctuation", "", cat(GeneralCategory::kPd), cat(GeneralCategory::kPd)},
    {"Ps", "Open_Punctuation", "", cat(GeneralCategory::kPs), cat(GeneralCategory::kPs)},
    {"Pe", "Close_Punctuation", "", cat(GeneralCategory::kPe), cat(GeneralCategory::kPe)},
    {"Pi", "Initial_Punctuation", "", cat(GeneralCategory::kPi), cat(GeneralCategory::kPi)},
    {"Pf", "Final_Punctuation", "", cat(GeneralCategory::kPf), cat(GeneralCategory::kPf)},
    {"Po", "Other_Punctuation", "", cat(GeneralCategory::kPo), cat(GeneralCategory::kPo)},
    {"S", "Symbol", "", cat(GeneralCategory::kSm), cat(GeneralCategory::kSo)},
    {"Sm", "Math_Symbol", "", cat(GeneralCategory::kSm), cat(GeneralCategory::kSm)},
    {"Sc", "Currency_Symbol", "", cat(GeneralCategory::kSc), cat(GeneralCategory::kSc)},
    {"Sk", "Modifier_Symbol", "", cat(GeneralCategory::kSk), cat(GeneralCategory::kSk)},
    {"So", "Other_Symbol", "", cat(GeneralCategory::kSo), cat(GeneralCategory::kSo)},
    {"Z", "Separator", "", cat(GeneralCategory::kZs), cat(GeneralCategory::kZp)},
    {"Zs", "Space_Separator", "", cat(GeneralCategory::kZs), cat(GeneralCategory::kZs)},
    {"Zl", "Line_Separator", "", cat(GeneralCategory::kZl), cat(GeneralCategory::kZl)},
    {"Zp", "Paragraph_Separator", "", cat(GeneralCategory::kZp), cat(GeneralCategory::kZp)},
    {"C", "Other", "", cat(GeneralCategory::kCc), cat(GeneralCategory::kCo)},
    {"Cc", "Control", "cntrl", cat(GeneralCategory::kCc), cat(GeneralCategory::kCc)},
    {"Cf", "Format", "", cat(GeneralCategory::kCf), cat(GeneralCategory::kCf)},
    {"Cs", "Surrogate", "", cat(GeneralCategory::kCs), cat(GeneralCategory::kCs)},
    {"Co", "Private_Use", "", cat(GeneralCategory::kCo), cat(GeneralCategory::kCo)},
    {"Cn", "Unassigned", "", cat(GeneralCategory::kCn), cat(GeneralCategory::kCn)},
}};

CodePointSet category_set(std::uint8_t first, std::uint8_t last) {
  std::vector<CodePointSet::Range> ranges;
  const bool unassigned = first == cat(GeneralCategory::kCn);
  for (const CategoryRange& r : category_ranges()) {
    // Unassigned is the complement of every listed run.
    if (unassigned || (r.category >= first && r.category <= last))
      ranges.emplace_back(r.first, r.last);
  }
  CodePointSet s = CodePointSet::from_ranges(std::move(ranges));
  if (unassigned) return s.complement();
  // "Other" (C) includes the unassigned code points too.
  if (first == cat(GeneralCategory::kCc) && last == cat(GeneralCategory::kCo)) {
    s.add(category_set(cat(GeneralCategory::kCn), cat(GeneralCategory::kCn)));
  }
  return s;
}

class Parser {
 public:
  Parser(std::u32string text, int max_nesting) : s_(std::move(text)), max_nesting_(max_nesting) {}

  core::Result<RegexAst> run() {
    prescan_groups();
    std::uint32_t root = 0;
    if (error_.empty() && parse_disjunction(root) && pos_ < s_.size()) {
      fail(s_[pos_] == ')' ? "unmatched ')'" : "unexpected character");
    }
    if (!error_.empty()) return core::Status(core::ErrorCode::kInvalidParams, error_);
    ast_.root = root;
    return std::move(ast_);
  }

 private:
  char32_t peek(std::size_t k = 0) const { return pos_ + k < s_.size() ? s_[pos_ + k] : kNone; }
  bool at_end() const { return pos_ >= s_.size(); }

  bool fail(std::string_view message) {
    if (error_.empty()) error_ = fmt::format("invalid regex: {} at offset {}", message, pos_);
    return false;
  }

  std::uint32_t add(RegexAst::Node node) {
    ast_.nodes.push_back(std::move(node));
    return static_cast<std::uint32_t>(ast_.nodes.size() - 1);
  }
  std::uint32_t add_set(CodePointSet set) {
    ast_.sets.push_back(std::move(set));
    RegexAst::Node node;
    node.kind = RegexAst::Kind::kSet;
    node.set = static_cast<std::uint32_t>(ast_.sets.size() - 1);
    return add(std::move(node));
  }
  std::uint32_t add_kind(RegexAst::Kind kind, std::vector<std::uint32_t> children = {}) {
    RegexAst::Node node;
    node.kind = kind;
    node.children = std::move(children);
    return add(std::move(node));
  }

  // Counts capturing groups and collects their names up front: backreferences
  // may point forwards (\1(a)), and "\k" means a named reference only when
  // the pattern has named groups.
  void prescan_groups() {
    bool in_class = false;
    for (std::size_t i = 0; i < s_.size(); ++i) {
      const char32_t c = s_[i];
      if (c == '\\') {
        ++i;
      } else if (in_class) {
        if (c == ']') in_class = false;
      } else if (c == '[') {
        in_class = true;
      } else if (c == '(') {
        if (i + 1 >= s_.size() || s_[i + 1] != '?') {
          ++group_count_;
        } else if (i + 2 < s_.size() && s_[i + 2] == '<' && i + 3 < s_.size() && s_[i + 3] != '=' &&
                   s_[i + 3] != '!') {
          ++group_count_;
          std::u32string name;
          for (std::size_t j = i + 3; j < s_.size() && s_[j] != '>'; ++j) name.push_back(s_[j]);
          group_names_.push_back(std::move(name));
        }
      }
    }
  }

  bool parse_disjunction(std::uint32_t& out) {
    if (++depth_ > max_nesting_) return fail("groups nested too deeply");
    std::vector<std::uint32_t> alternatives(1);
    if (!parse_alternative(alternatives[0])) return false;
    while (peek() == '|') {
      ++pos_;
      alternatives.emplace_back();
      if (!parse_alternative(alternatives.back())) return false;
    }
    --depth_;
    out = alternatives.size() == 1
              ? alternatives[0]
              : add_kind(RegexAst::Kind::kAlternation, std::move(alternatives));
    return true;
  }

  bool parse_alternative(std::uint32_t& out) {
    std::vector<std::uint32_t> items;
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (!parse_term(items)) return false;
    }
    if (items.empty()) {
      out = add_kind(RegexAst::Kind::kEmpty);
    } else if (items.size() == 1) {
      out = items[0];
    } else {
      out = add_kind(RegexAst::Kind::kConcat, std::move(items));
    }
    return true;
  }

  bool parse_term(std::vector<std::uint32_t>& items) {
    const char32_t c = peek();
    if (c == '^' || c == '$') {
      ++pos_;
      items.push_back(add_kind(c == '^' ? RegexAst::Kind::kInputStart : RegexAst::Kind::kInputEnd));
      return true;
    }
    if (c == '\\' && (peek(1) == 'b' || peek(1) == 'B')) {
      pos_ += 2;
      items.push_back(add_kind(s_[pos_ - 1] == 'b' ? RegexAst::Kind::kWordBoundary
                                                   : RegexAst::Kind::kNotWordBoundary));
      return true;
    }
    if (c == '(' && peek(1) == '?') {
      const bool ahead = peek(2) == '=' || peek(2) == '!';
      const bool behind = peek(2) == '<' && (peek(3) == '=' || peek(3) == '!');
      if (ahead || behind) {
        pos_ += ahead ? 3 : 4;
        std::uint32_t inner = 0;
        if (!parse_disjunction(inner)) return false;
        if (peek() != ')') return fail("missing ')'");
        ++pos_;
        ast_.has_lookaround = true;
        items.push_back(add_kind(RegexAst::Kind::kLookaround, {inner}));
        return true;  // u-mode: a lookaround takes no quantifier
      }
    }
    std::uint32_t atom = 0;
    if (!parse_atom(atom)) return false;
    return parse_quantifier(atom, items);
  }

  bool parse_atom(std::uint32_t& out) {
    const char32_t c = peek();
    switch (c) {
      case '.':
        ++pos_;
        out = add_set(dot_set());
        return true;
      case '(':
        return parse_group(out);
      case '[':
        return parse_class(out);
      case '\\':
        ++pos_;
        return parse_atom_escape(out);
      case '*':
      case '+':
      case '?':
        return fail("nothing to repeat");
      case '{':
        return fail("lone '{' (escape it as \\{)");
      case '}':
        return fail("lone '}' (escape it as \\})");
      case ']':
        return fail("lone ']' (escape it as \\])");
      default:
        ++pos_;
        out = add_set(CodePointSet::of(c));
        return true;
    }
  }

  bool parse_group(std::uint32_t& out) {
    ++pos_;  // '('
    if (peek() == '?') {
      if (peek(1) == ':') {
        pos_ += 2;
      } else if (peek(1) == '<') {
        pos_ += 2;
        if (!parse_group_name()) return false;
      } else {
        return fail("invalid group");
      }
    }
    std::uint32_t inner = 0;
    if (!parse_disjunction(inner)) return false;
    if (peek() != ')') return fail("missing ')'");
    ++pos_;
    out = add_kind(RegexAst::Kind::kGroup, {inner});
    return true;
  }

  // After "(?<" or "\k<": an identifier and '>'.
  bool parse_group_name() {
    const std::size_t start = pos_;
    while (!at_end() && peek() != '>') {
      if (!is_name_char(peek(), pos_ == start)) return fail("invalid group name");
      ++pos_;
    }
    if (at_end() || pos_ == start) return fail("invalid group name");
    last_name_ = s_.substr(start, pos_ - start);
    ++pos_;  // '>'
    return true;
  }

  bool parse_number(std::uint32_t& value) {
    if (!is_digit(peek())) return false;
    std::uint64_t v = 0;
    while (is_digit(peek())) {
      v = v * 10 + (peek() - '0');
      if (v > RegexAst::kUnbounded - 1) v = RegexAst::kUnbounded - 1;  // saturate
      ++pos_;
    }
    value = static_cast<std::uint32_t>(v);
    return true;
  }

  bool parse_quantifier(std::uint32_t atom, std::vector<std::uint32_t>& items) {
    std::uint32_t min = 0;
    std::uint32_t max = 0;
    switch (peek()) {
      case '*':
        ++pos_, min = 0, max = RegexAst::kUnbounded;
        break;
      case '+':
        ++pos_, min = 1, max = RegexAst::kUnbounded;
        break;
      case '?':
        ++pos_, min = 0, max = 1;
        break;
      case '{': {
        ++pos_;
        if (!parse_number(min)) return fail("incomplete quantifier");
        max = min;
        if (peek() == ',') {
          ++pos_;
          if (!parse_number(max)) max = RegexAst::kUnbounded;
        }
        if (peek() != '}') return fail("incomplete quantifier");
        ++pos_;
        if (min > max) return fail("numbers out of order in {} quantifier");
        break;
      }
      default:
        items.push_back(atom);
        return true;
    }
    RegexAst::Node node;
    node.kind = RegexAst::Kind::kRepeat;
    node.min = min;
    node.max = max;
    if (peek() == '?') {
      ++pos_;
      node.greedy = false;
    }
    node.children = {atom};
    items.push_back(add(std::move(node)));
    return true;
  }

  // After '\' outside a class.
  bool parse_atom_escape(std::uint32_t& out) {
    if (at_end()) return fail("\\ at end of pattern");
    const char32_t c = peek();
    if (c >= '1' && c <= '9') {
      std::uint32_t n = 0;
      parse_number(n);
      if (n > group_count_) return fail("invalid escape (no such group)");
      ast_.has_backreference = true;
      out = add_kind(RegexAst::Kind::kBackreference);
      return true;
    }
    if (c == 'k') {
      ++pos_;
      if (peek() != '<') return fail("invalid named reference");
      ++pos_;
      if (!parse_group_name()) return false;
      bool known = false;
      for (const auto& name : group_names_) known = known || name == last_name_;
      if (!known) return fail("invalid named reference (no such group)");
      ast_.has_backreference = true;
      out = add_kind(RegexAst::Kind::kBackreference);
      return true;
    }
    CodePointSet set;
    if (parse_class_escape(set)) {
      out = add_set(std::move(set));
      return error_.empty();
    }
    if (!error_.empty()) return false;
    char32_t cp = 0;
    if (!parse_character_escape(cp, /*in_class=*/false)) return false;
    out = add_set(CodePointSet::of(cp));
    return true;
  }

  // \d \D \s \S \w \W \p{…} \P{…}; false (no error) when `peek()` is none.
  bool parse_class_escape(CodePointSet& out) {
    const char32_t c = peek();
    switch (c) {
      case 'd':
      case 'D':
        out = digit_set();
        break;
      case 's':
      case 'S':
        out = space_set();
        break;
      case 'w':
      case 'W':
        out = word_set();
        break;
      case 'p':
      case 'P': {
        ++pos_;
        if (peek() != '{') return fail("invalid property name");
        ++pos_;
        std::string name;
        while (!at_end() && peek() != '}') {
          if (peek() >= 0x80) return fail("invalid property name");
          name.push_back(static_cast<char>(peek()));
          ++pos_;
        }
        if (at_end()) return fail("invalid property name");
        ++pos_;
        if (!unicode_property_set(name, out)) {
          return fail(fmt::format("unsupported Unicode property '{}'", name));
        }
        if (c == 'P') out = out.complement();
        return true;
      }
      default:
        return false;
    }
    ++pos_;
    if (c == 'D' || c == 'S' || c == 'W') out = out.complement();
    return true;
  }

  // One escaped code point; `pos_` is just after the '\'.
  bool parse_character_escape(char32_t& cp, bool in_class) {
    const char32_t c = peek();
    ++pos_;
    switch (c) {
      case 'f':
        cp = 0x0C;
        return true;
      case 'n':
        cp = 0x0A;
        return true;
      case 'r':
        cp = 0x0D;
        return true;
      case 't':
        cp = 0x09;
        return true;
      case 'v':
        cp = 0x0B;
        return true;
      case 'c':
        if (!is_ascii_letter(peek())) return fail("invalid control escape");
        cp = peek() % 32;
        ++pos_;
        return true;
      case '0':
        if (is_digit(peek())) return fail("invalid octal escape");
        cp = 0;
        return true;
      case 'x': {
        const int h = hex_value(peek());
        const int l = hex_value(peek(1));
        if (h < 0 || l < 0) return fail("invalid \\x escape");
        pos_ += 2;
        cp = static_cast<char32_t>(h * 16 + l);
        return true;
      }
      case 'u':
        return parse_unicode_escape(cp);
      case '-':
        if (in_class) {
          cp = '-';
          return true;
        }
        return fail("invalid escape \\-");
      default:
        if (is_syntax_char(c) || c == '/') {
          cp = c;
          return true;
        }
        --pos_;
        return fail("invalid escape");
    }
  }

  bool read_hex4(char32_t& value) {
    value = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex_value(peek(static_cast<std::size_t>(i)));
      if (h < 0) return false;
      value = value * 16 + static_cast<char32_t>(h);
    }
    pos_ += 4;
    return true;
  }

  // After "\u": XXXX (joining an escaped surrogate pair) or {X…}.
  bool parse_unicode_escape(char32_t& cp) {
    if (peek() == '{') {
      ++pos_;
      char32_t value = 0;
      bool any = false;
      while (hex_value(peek()) >= 0) {
        value = value * 16 + static_cast<char32_t>(hex_value(peek()));
        if (value > kMaxCodePoint) return fail("\\u{…} escape out of range");
        any = true;
        ++pos_;
      }
      if (!any || peek() != '}') return fail("invalid \\u{…} escape");
      ++pos_;
      cp = value;
      return true;
    }
    if (!read_hex4(cp)) return fail("invalid \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
      const std::size_t save = pos_;
      pos_ += 2;
      char32_t low = 0;
      if (read_hex4(low) && low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      } else {
        pos_ = save;
      }
    }
    return true;
  }

  bool parse_class(std::uint32_t& out) {
    ++pos_;  // '['
    const bool negate = peek() == '^';
    if (negate) ++pos_;
    CodePointSet set;
    while (true) {
      if (at_end()) return fail("unterminated character class");
      if (peek() == ']') {
        ++pos_;
        break;
      }
      CodePointSet first_set;
      char32_t first = kNone;
      if (!parse_class_atom(first_set, first)) return false;
      if (peek() == '-' && peek(1) != ']' && peek(1) != kNone) {
        ++pos_;
        CodePointSet last_set;
        char32_t last = kNone;
        if (!parse_class_atom(last_set, last)) return false;
        if (first == kNone || last == kNone) return fail("invalid character class range");
        if (first > last) return fail("range out of order in character class");
        set.add(first, last);
      } else {
        set.add(first_set);
      }
    }
    out = add_set(negate ? set.complement() : std::move(set));
    return true;
  }

  // One class member: a code point (`single` set) or an escape like \d.
  bool parse_class_atom(CodePointSet& set, char32_t& single) {
    const char32_t c = peek();
    ++pos_;
    if (c != '\\') {
      single = c;
      set = CodePointSet::of(c);
      return true;
    }
    if (at_end()) return fail("\\ at end of pattern");
    if (peek() == 'b') {
      ++pos_;
      single = 0x08;
    } else if (parse_class_escape(set)) {
      single = kNone;
      return error_.empty();
    } else if (!error_.empty()) {
      return false;
    } else if (!parse_character_escape(single, /*in_class=*/true)) {
      return false;
    }
    set = CodePointSet::of(single);
    return true;
  }

  std::u32string s_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  int max_nesting_;
  std::uint32_t group_count_ = 0;
  std::vector<std::u32string> group_names_;
  std::u32string last_name_;
  std::string error_;
  RegexAst ast_;
};

}  // namespace

bool unicode_property_set(std::string_view name, CodePointSet& out) {
  for (std::string_view prefix : {"General_Category=", "gc="}) {
    if (name.substr(0, prefix.size()) == prefix) name.remove_prefix(prefix.size());
  }
  if (name == "Any") {
    out = CodePointSet::all();
    return true;
  }
  if (name == "ASCII") {
    out = CodePointSet::range(0, 0x7F);
    return true;
  }
  if (name == "Assigned") {
    out = category_set(cat(GeneralCategory::kCn), cat(GeneralCategory::kCn)).complement();
    return true;
  }
  for (const CategoryName& c : kCategoryNames) {
    if (name == c.short_name || name == c.long_name || (!c.alias.empty() && name == c.alias)) {
      out = category_set(c.first, c.last);
      return true;
    }
  }
  return false;
}

core::Result<RegexAst> parse_regex(std::string_view pattern, int max_nesting) {
  if (!utf8::is_valid(pattern)) {
    return core::Status(core::ErrorCode::kInvalidParams, "invalid regex: not valid UTF-8");
  }
  std::u32string text;
  text.reserve(pattern.size());
  for (std::size_t pos = 0; pos < pattern.size();) text.push_back(utf8::decode(pattern, pos));
  return Parser(std::move(text), max_nesting).run();
}

}  // namespace mlxs::schema
