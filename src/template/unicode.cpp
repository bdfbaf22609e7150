#include "template/unicode.h"

#include <algorithm>
#include <cstdint>

namespace mlxs::template_::unicode {
namespace {

struct CaseRange {
  char32_t first;
  char32_t last;
  std::int32_t delta;
  std::uint8_t stride;
};
struct CaseSpecial {
  char32_t cp;
  const char* utf8;
};
struct CodeRange {
  char32_t first;
  char32_t last;
};

#include "template/unicode_tables.inc"

constexpr char32_t kEscapeBase = 0xDC80;  // lone surrogates never come from valid UTF-8

template <std::size_t N>
const CaseSpecial* find_special(const CaseSpecial (&table)[N], char32_t cp) {
  const auto* it = std::lower_bound(std::begin(table), std::end(table), cp,
                                    [](const CaseSpecial& e, char32_t c) { return e.cp < c; });
  return it != std::end(table) && it->cp == cp ? it : nullptr;
}

template <std::size_t N>
char32_t map_single(const CaseRange (&table)[N], char32_t cp) {
  // Last range whose first <= cp.
  const auto* it = std::upper_bound(std::begin(table), std::end(table), cp,
                                    [](char32_t c, const CaseRange& r) { return c < r.first; });
  if (it == std::begin(table)) return cp;
  --it;
  if (cp > it->last || (cp - it->first) % it->stride != 0) return cp;
  return static_cast<char32_t>(static_cast<std::int64_t>(cp) + it->delta);
}

template <std::size_t N, std::size_t M>
void append_mapped(std::string& out, char32_t cp, const CaseRange (&ranges)[N],
                   const CaseSpecial (&special)[M]) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));  // callers handle ASCII themselves when it matters
    return;
  }
  if (const CaseSpecial* s = find_special(special, cp)) {
    out += s->utf8;
    return;
  }
  append(out, map_single(ranges, cp));
}

void append_upper(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp));
    return;
  }
  append_mapped(out, cp, kUpperRanges, kUpperSpecial);
}
void append_lower(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    return;
  }
  append_mapped(out, cp, kLowerRanges, kLowerSpecial);
}
void append_title(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp));
    return;
  }
  append_mapped(out, cp, kTitleRanges, kTitleSpecial);
}

bool has_upper_mapping(char32_t cp) {
  return find_special(kUpperSpecial, cp) != nullptr || map_single(kUpperRanges, cp) != cp;
}
bool has_lower_mapping(char32_t cp) {
  return find_special(kLowerSpecial, cp) != nullptr || map_single(kLowerRanges, cp) != cp;
}

// Unicode's Final_Sigma condition, as CPython applies it in str.lower().
bool final_sigma(const std::vector<char32_t>& cps, std::size_t i) {
  std::size_t j = i;
  bool before = false;
  while (j > 0) {
    --j;
    if (is_cased(cps[j])) {
      before = true;
      break;
    }
    if (cps[j] != 0x27 && cps[j] != 0xAD && cps[j] != 0x2019) break;  // case-ignorable subset
  }
  if (!before) return false;
  for (std::size_t k = i + 1; k < cps.size(); ++k) {
    if (is_cased(cps[k])) return false;
    if (cps[k] != 0x27 && cps[k] != 0xAD && cps[k] != 0x2019) break;
  }
  return true;
}

}  // namespace

char32_t decode(std::string_view s, std::size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  int need = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1Fu, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0Fu, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07u, min = 0x10000;
  } else {
    ++pos;
    return kEscapeBase + b0 - 0x80;
  }
  if (pos + static_cast<std::size_t>(need) >= s.size()) {  // truncated sequence
    ++pos;
    return kEscapeBase + b0 - 0x80;
  }
  for (int k = 1; k <= need; ++k) {
    const auto b = static_cast<unsigned char>(s[pos + static_cast<std::size_t>(k)]);
    if ((b & 0xC0u) != 0x80u) {
      ++pos;
      return kEscapeBase + b0 - 0x80;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return kEscapeBase + b0 - 0x80;
  }
  pos += static_cast<std::size_t>(need) + 1;
  return cp;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp >= kEscapeBase && cp < kEscapeBase + 0x80) {
    out.push_back(static_cast<char>(cp - kEscapeBase + 0x80));  // an invalid byte, restored
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) out.push_back(decode(s, pos));
  return out;
}

std::string encode(const char32_t* begin, const char32_t* end) {
  std::string out;
  out.reserve(static_cast<std::size_t>(end - begin));
  for (const char32_t* p = begin; p != end; ++p) append(out, *p);
  return out;
}

std::size_t length(std::string_view s) {
  std::size_t n = 0;
  bool ascii = true;
  for (const char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return s.size();
  for (std::size_t pos = 0; pos < s.size(); ++n) decode(s, pos);
  return n;
}

std::size_t byte_offset(std::string_view s, std::size_t index) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < index && pos < s.size(); ++i) decode(s, pos);
  return pos;
}

bool is_space(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_cased(char32_t cp) {
  const auto* it = std::upper_bound(std::begin(kCased), std::end(kCased), cp,
                                    [](char32_t c, const CodeRange& r) { return c < r.first; });
  if (it == std::begin(kCased)) return false;
  --it;
  return cp <= it->last;
}

bool is_printable(char32_t cp) {
  if (cp < 0x80) return cp >= 0x20 && cp != 0x7F;
  const auto* it = std::upper_bound(std::begin(kNonPrintable), std::end(kNonPrintable), cp,
                                    [](char32_t c, const CodeRange& r) { return c < r.first; });
  if (it == std::begin(kNonPrintable)) return true;
  --it;
  return cp > it->last;
}

bool is_lower_cp(char32_t cp) {
  return is_cased(cp) && !has_lower_mapping(cp) && has_upper_mapping(cp);
}
bool is_upper_cp(char32_t cp) {
  return is_cased(cp) && !has_upper_mapping(cp) && has_lower_mapping(cp);
}

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) append_upper(out, decode(s, pos));
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const bool has_sigma = s.find("\xCE\xA3") != std::string_view::npos;
  if (!has_sigma) {
    for (std::size_t pos = 0; pos < s.size();) append_lower(out, decode(s, pos));
    return out;
  }
  const auto cps = code_points(s);
  for (std::size_t i = 0; i < cps.size(); ++i) {
    if (cps[i] == 0x3A3 && final_sigma(cps, i)) {
      append(out, 0x3C2);
    } else {
      append_lower(out, cps[i]);
    }
  }
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool previous_cased = false;
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode(s, pos);
    if (previous_cased) {
      append_lower(out, cp);
    } else {
      append_title(out, cp);
    }
    previous_cased = is_cased(cp);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  if (!s.empty()) append_title(out, decode(s, pos));
  out += lower(s.substr(pos));
  return out;
}

std::string swapcase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode(s, pos);
    if (is_upper_cp(cp)) {
      append_lower(out, cp);
    } else if (is_lower_cp(cp)) {
      append_upper(out, cp);
    } else {
      append(out, cp);
    }
  }
  return out;
}

bool is_lower(std::string_view s) {
  bool any = false;
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode(s, pos);
    if (is_upper_cp(cp)) return false;
    any = any || is_lower_cp(cp);
  }
  return any;
}

bool is_upper(std::string_view s) {
  bool any = false;
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode(s, pos);
    if (is_lower_cp(cp)) return false;
    any = any || is_upper_cp(cp);
  }
  return any;
}

std::string_view strip(std::string_view s, const std::string_view* chars, bool left, bool right) {
  std::vector<char32_t> set;
  if (chars != nullptr) set = code_points(*chars);
  const auto strippable = [&](char32_t cp) {
    return chars == nullptr ? is_space(cp) : std::find(set.begin(), set.end(), cp) != set.end();
  };
  std::size_t begin = 0;
  if (left) {
    while (begin < s.size()) {
      std::size_t next = begin;
      if (!strippable(decode(s, next))) break;
      begin = next;
    }
  }
  std::size_t end = s.size();
  if (right) {
    while (end > begin) {
      // Step back to the start of the previous code point.
      std::size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0u) == 0x80u &&
             end - start < 4) {
        --start;
      }
      std::size_t probe = start;
      char32_t cp = decode(s, probe);
      if (probe != end) {  // not one well-formed code point: treat the last byte alone
        start = end - 1;
        probe = start;
        cp = decode(s, probe);
      }
      if (!strippable(cp)) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

}  // namespace mlxs::template_::unicode
