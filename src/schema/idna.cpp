#include "schema/idna.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "schema/unicode_data.h"

namespace mlxs::schema::idna {
namespace {

// ------------------------------------------------------------- Punycode
constexpr std::uint32_t kBase = 36, kTmin = 1, kTmax = 26, kSkew = 38, kDamp = 700;
constexpr std::uint32_t kInitialBias = 72, kInitialN = 128;
constexpr std::uint32_t kMax = std::numeric_limits<std::uint32_t>::max();

std::uint32_t adapt(std::uint32_t delta, std::uint32_t points, bool first) {
  delta = first ? delta / kDamp : delta / 2;
  delta += delta / points;
  std::uint32_t k = 0;
  while (delta > ((kBase - kTmin) * kTmax) / 2) {
    delta /= kBase - kTmin;
    k += kBase;
  }
  return k + (kBase - kTmin + 1) * delta / (delta + kSkew);
}

std::uint32_t threshold(std::uint32_t k, std::uint32_t bias) {
  if (k <= bias) return kTmin;
  if (k >= bias + kTmax) return kTmax;
  return k - bias;
}

int digit_value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '0' && c <= '9') return c - '0' + 26;
  return -1;
}

char digit_char(std::uint32_t d) {
  return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

// ----------------------------------------------------------- code points
bool in_ranges(char32_t cp, std::initializer_list<std::pair<char32_t, char32_t>> ranges) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [cp](const auto& r) { return cp >= r.first && cp <= r.second; });
}

// Script membership by block, close enough for the contextual rules.
bool greek(char32_t cp) {
  return in_ranges(
      cp, {{0x370, 0x373}, {0x375, 0x377}, {0x37A, 0x37D}, {0x37F, 0x3FF}, {0x1F00, 0x1FFF}});
}
bool hebrew(char32_t cp) {
  return in_ranges(cp, {{0x591, 0x5F4}, {0xFB1D, 0xFB4F}});
}
bool hiragana_katakana_han(char32_t cp) {
  if (cp == 0x30FB) return false;
  return in_ranges(cp, {{0x3041, 0x309F},
                        {0x30A0, 0x30FF},
                        {0x31F0, 0x31FF},
                        {0xFF66, 0xFF9D},
                        {0x1B000, 0x1B16F},
                        {0x2E80, 0x2FDF},
                        {0x3005, 0x3007},
                        {0x3021, 0x3029},
                        {0x3038, 0x303B},
                        {0x3400, 0x4DBF},
                        {0x4E00, 0x9FFF},
                        {0xF900, 0xFAFF},
                        {0x20000, 0x3134F}});
}
bool virama(char32_t cp) {
  const auto v = virama_code_points();
  return std::binary_search(v.begin(), v.end(), static_cast<std::uint32_t>(cp));
}
// Joining types are not tabulated: letters of the cursive scripts count as
// dual-joining and marks/format characters as transparent.
bool joining_transparent(char32_t cp) {
  const GeneralCategory c = general_category(cp);
  return c == GeneralCategory::kMn || c == GeneralCategory::kMe || c == GeneralCategory::kCf;
}
bool joining_dual(char32_t cp) {
  if (joining_transparent(cp)) return false;
  return in_ranges(cp, {{0x620, 0x64A},
                        {0x66E, 0x6D3},
                        {0x6FA, 0x6FF},
                        {0x710, 0x74F},
                        {0x750, 0x77F},
                        {0x7CA, 0x7EA},
                        {0x8A0, 0x8C9},
                        {0x1820, 0x18AA},
                        {0xA840, 0xA872},
                        {0x10AC0, 0x10AEF},
                        {0x10D00, 0x10D23},
                        {0x10F30, 0x10F45},
                        {0x1E900, 0x1E943}});
}
bool mark(char32_t cp) {
  const GeneralCategory c = general_category(cp);
  return c == GeneralCategory::kMn || c == GeneralCategory::kMc || c == GeneralCategory::kMe;
}

// RFC 5892 appendix A, for the code point at `i`.
bool context_rule(const std::u32string& s, std::size_t i) {
  const char32_t cp = s[i];
  const char32_t before = i > 0 ? s[i - 1] : 0;
  const char32_t after = i + 1 < s.size() ? s[i + 1] : 0;
  switch (cp) {
    case 0x200C: {  // ZERO WIDTH NON-JOINER
      if (i > 0 && virama(before)) return true;
      std::size_t l = i;
      while (l > 0 && joining_transparent(s[l - 1])) --l;
      std::size_t r = i + 1;
      while (r < s.size() && joining_transparent(s[r])) ++r;
      return l > 0 && joining_dual(s[l - 1]) && r < s.size() && joining_dual(s[r]);
    }
    case 0x200D:  // ZERO WIDTH JOINER
      return i > 0 && virama(before);
    case 0x00B7:  // MIDDLE DOT
      return before == 'l' && after == 'l';
    case 0x0375:  // GREEK LOWER NUMERAL SIGN (KERAIA)
      return i + 1 < s.size() && greek(after);
    case 0x05F3:  // HEBREW PUNCTUATION GERESH
    case 0x05F4:  // HEBREW PUNCTUATION GERSHAYIM
      return i > 0 && hebrew(before);
    case 0x30FB:  // KATAKANA MIDDLE DOT
      return std::any_of(s.begin(), s.end(), hiragana_katakana_han);
    default:
      break;
  }
  if (cp >= 0x660 && cp <= 0x669) {  // ARABIC-INDIC DIGITS
    return std::none_of(s.begin(), s.end(), [](char32_t c) { return c >= 0x6F0 && c <= 0x6F9; });
  }
  if (cp >= 0x6F0 && cp <= 0x6F9) {  // EXTENDED ARABIC-INDIC DIGITS
    return std::none_of(s.begin(), s.end(), [](char32_t c) { return c >= 0x660 && c <= 0x669; });
  }
  return false;
}

bool contextual(char32_t cp) {
  return cp == 0x200C || cp == 0x200D || cp == 0xB7 || cp == 0x375 || cp == 0x5F3 || cp == 0x5F4 ||
         cp == 0x30FB || (cp >= 0x660 && cp <= 0x669) || (cp >= 0x6F0 && cp <= 0x6F9);
}

// RFC 5892 §2.6 exceptions, then the derived PVALID table.
bool pvalid(char32_t cp) {
  if (cp == 0xDF || cp == 0x3C2 || cp == 0x6FD || cp == 0x6FE || cp == 0xF0B || cp == 0x3007)
    return true;
  if (cp == 0x640 || cp == 0x7FA || cp == 0x302E || cp == 0x302F ||
      (cp >= 0x3031 && cp <= 0x3035) || cp == 0x303B) {
    return false;
  }
  const auto ranges = idna_pvalid_ranges();
  auto it = std::upper_bound(ranges.begin(), ranges.end(), static_cast<std::uint32_t>(cp),
                             [](std::uint32_t v, const CodePointRange& r) { return v < r.first; });
  return it != ranges.begin() && cp <= std::prev(it)->last;
}

// RFC 5893 §2.
bool bidi_rule(const std::u32string& s) {
  if (s.empty()) return false;
  using B = BidiClass;
  const B first = bidi_class(s[0]);
  if (first != B::kL && first != B::kR && first != B::kAL) return false;
  // The last character that is not NSM.
  std::size_t end = s.size();
  while (end > 0 && bidi_class(s[end - 1]) == B::kNSM) --end;
  if (end == 0) return false;
  const B last = bidi_class(s[end - 1]);
  if (first == B::kL) {
    for (char32_t cp : s) {
      const B b = bidi_class(cp);
      if (b != B::kL && b != B::kEN && b != B::kES && b != B::kCS && b != B::kET && b != B::kON &&
          b != B::kBN && b != B::kNSM) {
        return false;
      }
    }
    return last == B::kL || last == B::kEN;
  }
  bool en = false;
  bool an = false;
  for (char32_t cp : s) {
    const B b = bidi_class(cp);
    if (b == B::kL || b == B::kOther) return false;
    en = en || b == B::kEN;
    an = an || b == B::kAN;
  }
  if (en && an) return false;
  return last == B::kR || last == B::kAL || last == B::kEN || last == B::kAN;
}

bool valid_u_label(const std::u32string& s, bool bidi_domain) {
  if (s.empty()) return false;
  if (s.size() >= 4 && s[2] == '-' && s[3] == '-') return false;
  if (s.front() == '-' || s.back() == '-') return false;
  if (mark(s.front())) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char32_t cp = s[i];
    if (contextual(cp)) {
      if (!context_rule(s, i)) return false;
    } else if (!pvalid(cp)) {
      return false;
    }
  }
  return !bidi_domain || bidi_rule(s);
}

bool ace_prefix(std::string_view label) {
  return label.size() >= 4 && (label[0] | 0x20) == 'x' && (label[1] | 0x20) == 'n' &&
         label[2] == '-' && label[3] == '-';
}

bool ldh(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
    return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-';
  });
}

}  // namespace

bool punycode_decode(std::string_view in, std::u32string& out) {
  out.clear();
  std::size_t pos = 0;
  if (const auto dash = in.rfind('-'); dash != std::string_view::npos) {
    for (std::size_t k = 0; k < dash; ++k) {
      if (static_cast<unsigned char>(in[k]) >= 0x80) return false;
      out.push_back(static_cast<char32_t>(in[k]));
    }
    pos = dash + 1;
  }
  std::uint32_t n = kInitialN;
  std::uint32_t i = 0;
  std::uint32_t bias = kInitialBias;
  while (pos < in.size()) {
    const std::uint32_t old_i = i;
    std::uint32_t w = 1;
    for (std::uint32_t k = kBase;; k += kBase) {
      if (pos >= in.size()) return false;
      const int d = digit_value(in[pos++]);
      if (d < 0) return false;
      const auto digit = static_cast<std::uint32_t>(d);
      if (digit > (kMax - i) / w) return false;
      i += digit * w;
      const std::uint32_t t = threshold(k, bias);
      if (digit < t) break;
      if (w > kMax / (kBase - t)) return false;
      w *= kBase - t;
    }
    const auto points = static_cast<std::uint32_t>(out.size() + 1);
    bias = adapt(i - old_i, points, old_i == 0);
    if (i / points > kMax - n) return false;
    n += i / points;
    i %= points;
    if (n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF)) return false;
    out.insert(out.begin() + i, static_cast<char32_t>(n));
    ++i;
  }
  return true;
}

bool punycode_encode(const std::u32string& in, std::string& out) {
  out.clear();
  for (char32_t c : in) {
    if (c < 0x80) out.push_back(static_cast<char>(c));
  }
  const auto basic = static_cast<std::uint32_t>(out.size());
  std::uint32_t h = basic;
  if (basic > 0) out.push_back('-');
  std::uint32_t n = kInitialN;
  std::uint32_t delta = 0;
  std::uint32_t bias = kInitialBias;
  while (h < in.size()) {
    std::uint32_t m = kMax;
    for (char32_t c : in) {
      if (c >= n && c < m) m = c;
    }
    if (m - n > (kMax - delta) / (h + 1)) return false;
    delta += (m - n) * (h + 1);
    n = m;
    for (char32_t c : in) {
      if (c < n && ++delta == 0) return false;
      if (c != n) continue;
      std::uint32_t q = delta;
      for (std::uint32_t k = kBase;; k += kBase) {
        const std::uint32_t t = threshold(k, bias);
        if (q < t) break;
        out.push_back(digit_char(t + (q - t) % (kBase - t)));
        q = (q - t) / (kBase - t);
      }
      out.push_back(digit_char(q));
      bias = adapt(delta, h + 1, h == basic);
      delta = 0;
      ++h;
    }
    ++delta;
    ++n;
  }
  return true;
}

bool has_rtl(const std::u32string& label) {
  return std::any_of(label.begin(), label.end(), [](char32_t cp) {
    const BidiClass b = bidi_class(cp);
    return b == BidiClass::kR || b == BidiClass::kAL || b == BidiClass::kAN;
  });
}

bool valid_a_label(std::string_view label) {
  if (!ace_prefix(label) || label.size() > 63) return false;
  // A-labels are case-insensitive; the U-label is their lower-case decoding.
  std::string encoded(label.substr(4));
  for (char& c : encoded) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  }
  std::u32string decoded;
  if (!punycode_decode(encoded, decoded)) return false;
  if (std::all_of(decoded.begin(), decoded.end(), [](char32_t c) { return c < 0x80; }))
    return false;
  std::string again;
  if (!punycode_encode(decoded, again) || again != encoded) return false;
  return valid_u_label(decoded, has_rtl(decoded));
}

bool to_ascii_label(const std::u32string& label, bool bidi_domain, std::string& ascii) {
  if (std::all_of(label.begin(), label.end(), [](char32_t c) { return c < 0x80; })) {
    ascii.assign(label.begin(), label.end());
    if (ace_prefix(ascii)) return valid_a_label(ascii);
    if (!ldh(ascii)) return false;
    if (ascii.size() >= 4 && ascii[2] == '-' && ascii[3] == '-') return false;
    return !bidi_domain || bidi_rule(label);
  }
  if (!valid_u_label(label, bidi_domain)) return false;
  std::string encoded;
  if (!punycode_encode(label, encoded)) return false;
  ascii = "xn--" + encoded;
  return ascii.size() <= 63;
}

}  // namespace mlxs::schema::idna
