#include "guidance/utf8_ranges.h"

namespace mlxs::guidance {
namespace {

constexpr char32_t kMaxForLength[] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

int encoded_length(char32_t cp) {
  if (cp <= 0x7F) return 1;
  if (cp <= 0x7FF) return 2;
  if (cp <= 0xFFFF) return 3;
  return 4;
}

// [lo, hi] share one encoded length; split until each byte position is an
// independent range.
void split(char32_t lo, char32_t hi, std::vector<Utf8Sequence>& out) {
  const int n = encoded_length(lo);
  for (int i = 1; i < n; ++i) {
    const char32_t mask = (char32_t{1} << (6 * i)) - 1;
    if ((lo & ~mask) != (hi & ~mask)) {
      if ((lo & mask) != 0) {
        split(lo, lo | mask, out);
        split((lo | mask) + 1, hi, out);
        return;
      }
      if ((hi & mask) != mask) {
        split(lo, (hi & ~mask) - 1, out);
        split(hi & ~mask, hi, out);
        return;
      }
    }
  }
  std::uint8_t a[4];
  std::uint8_t b[4];
  utf8_encode(lo, a);
  utf8_encode(hi, b);
  Utf8Sequence seq;
  seq.length = n;
  for (int i = 0; i < n; ++i) seq.bytes[i] = ByteRange{a[i], b[i]};
  out.push_back(seq);
}

}  // namespace

int utf8_encode(char32_t cp, std::uint8_t out[4]) {
  if (cp <= 0x7F) {
    out[0] = static_cast<std::uint8_t>(cp);
    return 1;
  }
  if (cp <= 0x7FF) {
    out[0] = static_cast<std::uint8_t>(0xC0 | (cp >> 6));
    out[1] = static_cast<std::uint8_t>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp <= 0xFFFF) {
    out[0] = static_cast<std::uint8_t>(0xE0 | (cp >> 12));
    out[1] = static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<std::uint8_t>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<std::uint8_t>(0xF0 | (cp >> 18));
  out[1] = static_cast<std::uint8_t>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<std::uint8_t>(0x80 | (cp & 0x3F));
  return 4;
}

void utf8_sequences(char32_t lo, char32_t hi, std::vector<Utf8Sequence>& out) {
  if (hi > 0x10FFFF) hi = 0x10FFFF;
  if (lo > hi) return;
  // Leave out the surrogates.
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) utf8_sequences(lo, 0xD7FF, out);
    if (hi > 0xDFFF) utf8_sequences(0xE000, hi, out);
    return;
  }
  for (int n = 1; n <= 4; ++n) {
    const char32_t top = kMaxForLength[n];
    if (lo > top) continue;
    const char32_t end = hi < top ? hi : top;
    split(lo, end, out);
    if (hi <= top) return;
    lo = top + 1;
  }
}

}  // namespace mlxs::guidance
