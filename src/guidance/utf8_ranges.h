#pragma once
// UTF-8 byte sequences for ranges of code points: a range becomes a few
// sequences of byte ranges (each a cartesian product), which is how a class
// like [a-zé-ü\p{L}] becomes transitions of a byte automaton. Surrogates
// (U+D800..U+DFFF) have no UTF-8 form and are left out.

#include <cstdint>
#include <vector>

namespace mlxs::guidance {

struct ByteRange {
  std::uint8_t lo = 0, hi = 0;
};

struct Utf8Sequence {
  int length = 0;  // 1..4
  ByteRange bytes[4];
};

// Appends the sequences of [lo, hi] (inclusive) to `out`.
void utf8_sequences(char32_t lo, char32_t hi, std::vector<Utf8Sequence>& out);

// The UTF-8 encoding of one code point (not a surrogate); returns its length.
int utf8_encode(char32_t cp, std::uint8_t out[4]);

}  // namespace mlxs::guidance
