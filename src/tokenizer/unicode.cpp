#include "tokenizer/unicode.h"

#include <algorithm>
#include <vector>

#include "tokenizer/unicode_data.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer::unicode {
namespace ud = unicode_data;
namespace {

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

const ud::Decomposition* find_decomposition(char32_t cp) {
  const auto* begin = ud::kDecompositions;
  const auto* end = begin + ud::kDecompositionCount;
  const auto* it = std::lower_bound(
      begin, end, cp, [](const ud::Decomposition& d, char32_t c) { return d.cp < c; });
  return it != end && it->cp == cp ? it : nullptr;
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto* begin = ud::kCompositions;
  const auto* end = begin + ud::kCompositionCount;
  const auto* it = std::lower_bound(
      begin, end, std::pair(a, b), [](const ud::Composition& c, std::pair<char32_t, char32_t> key) {
        return c.first != key.first ? c.first < key.first : c.second < key.second;
      });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

void decompose_into(char32_t cp, bool compat, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (const auto* d = find_decomposition(cp)) {
    const std::uint32_t off = compat ? d->compat_offset : d->canonical_offset;
    const std::uint32_t len = compat ? d->compat_length : d->canonical_length;
    if (len != 0) {
      out.insert(out.end(), ud::kDecompPool + off, ud::kDecompPool + off + len);
      return;
    }
  }
  out.push_back(cp);
}

// Stable sort of each run of non-starters by combining class.
void canonical_order(std::vector<char32_t>& cps) {
  std::size_t i = 0;
  while (i < cps.size()) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    std::stable_sort(
        cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(j),
        [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

void compose(std::vector<char32_t>& cps) {
  if (cps.empty()) return;
  std::size_t starter = SIZE_MAX;
  std::uint8_t last_ccc = 0;
  std::size_t out = 0;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const char32_t c = cps[i];
    const std::uint8_t cc = combining_class(c);
    bool blocked = true;
    if (starter != SIZE_MAX) {
      if (out == starter + 1) {
        blocked = false;  // adjacent to the starter
      } else {
        blocked = !(last_ccc != 0 && last_ccc < cc);
      }
    }
    if (!blocked) {
      const char32_t composite = compose_pair(cps[starter], c);
      if (composite != 0) {
        cps[starter] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter = out;
      last_ccc = 0;
    } else {
      last_ccc = cc;
    }
    cps[out++] = c;
  }
  cps.resize(out);
}

template <typename T, typename Key>
const T* find_range(const T* table, std::size_t count, char32_t cp, Key first) {
  const T* end = table + count;
  const T* it =
      std::upper_bound(table, end, cp, [&](char32_t c, const T& r) { return c < first(r); });
  return it == table ? nullptr : it - 1;
}

}  // namespace

Category category(char32_t cp) {
  return core::unicode::general_category(cp);
}

bool is_letter(char32_t cp) {
  const auto c = category(cp);
  return c >= Category::kLu && c <= Category::kLo;
}
bool is_mark(char32_t cp) {
  const auto c = category(cp);
  return c >= Category::kMn && c <= Category::kMe;
}
bool is_number(char32_t cp) {
  const auto c = category(cp);
  return c >= Category::kNd && c <= Category::kNo;
}
bool is_punctuation(char32_t cp) {
  const auto c = category(cp);
  return c >= Category::kPc && c <= Category::kPo;
}
bool is_symbol(char32_t cp) {
  const auto c = category(cp);
  return c >= Category::kSm && c <= Category::kSo;
}
bool is_control(char32_t cp) {
  const auto c = category(cp);
  return c == Category::kCc || c == Category::kCf || c == Category::kCn || c == Category::kCo;
}
bool is_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}
bool is_alphanumeric(char32_t cp) {
  return is_letter(cp) || is_number(cp);
}
bool is_word_char(char32_t cp) {
  const auto c = category(cp);
  return (c >= Category::kLu && c <= Category::kNd) || c == Category::kNl || c == Category::kPc ||
         cp == 0x200C || cp == 0x200D;
}

std::uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* r = find_range(ud::kCccRanges, ud::kCccRangeCount, cp,
                             [](const ud::CccRange& x) { return x.first; });
  return r != nullptr && cp <= r->last ? r->ccc : 0;
}

bool is_nfc_quick(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0xCC) {  // U+0000..U+02FF are all stable
      i += b < 0x80 ? 1 : 2;
      continue;
    }
    std::size_t len = 0;
    const char32_t cp = utf8::decode_valid(s, i, &len);
    i += len;
    const auto* r = find_range(ud::kNfcUnstable, ud::kNfcUnstableCount, cp,
                               [](const ud::CodeRange& x) { return x.first; });
    if (r != nullptr && cp <= r->last) return false;
  }
  return true;
}

void normalize(std::string_view in, Form form, std::string& out) {
  if ((form == Form::kNfc) && is_nfc_quick(in)) {
    out.append(in);
    return;
  }
  const bool compat = form == Form::kNfkc || form == Form::kNfkd;
  std::vector<char32_t> cps;
  cps.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    std::size_t len = 0;
    const char32_t cp = utf8::decode_valid(in, i, &len);
    i += len;
    decompose_into(cp, compat, cps);
  }
  canonical_order(cps);
  if (form == Form::kNfc || form == Form::kNfkc) compose(cps);
  for (const char32_t cp : cps) utf8::append(out, cp);
}

void lowercase(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
      ++i;
      continue;
    }
    std::size_t len = 0;
    const char32_t cp = utf8::decode_valid(in, i, &len);
    const auto* end = ud::kLowercase + ud::kLowercaseCount;
    const auto* it = std::lower_bound(
        ud::kLowercase, end, cp, [](const ud::CaseMapping& m, char32_t c) { return m.cp < c; });
    if (it != end && it->cp == cp) {
      for (std::uint32_t k = 0; k < it->length; ++k)
        utf8::append(out, ud::kLowerPool[it->offset + k]);
    } else {
      out.append(in.substr(i, len));
    }
    i += len;
  }
}

void strip_accents(std::string_view in, std::string& out) {
  std::string nfd;
  normalize(in, Form::kNfd, nfd);
  std::size_t i = 0;
  while (i < nfd.size()) {
    std::size_t len = 0;
    const char32_t cp = utf8::decode_valid(nfd, i, &len);
    if (category(cp) != Category::kMn) out.append(std::string_view(nfd).substr(i, len));
    i += len;
  }
}

}  // namespace mlxs::tokenizer::unicode
