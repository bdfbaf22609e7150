#pragma once
// UTF-8 helpers. Invalid input is handled the way Rust's
// String::from_utf8_lossy does (one U+FFFD per maximal invalid subpart), which
// is what Hugging Face tokenizers produce when decoding bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mlxs::tokenizer::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence at s[pos], or 0 when invalid there.
std::size_t valid_sequence_length(std::string_view s, std::size_t pos);

// Decodes the code point at s[pos] of a string known to be valid UTF-8.
inline char32_t decode_valid(std::string_view s, std::size_t pos, std::size_t* length) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) {
    *length = 1;
    return b0;
  }
  auto cont = [&](std::size_t i) {
    return static_cast<char32_t>(static_cast<unsigned char>(s[pos + i]) & 0x3F);
  };
  if (b0 < 0xE0) {
    *length = 2;
    return (static_cast<char32_t>(b0 & 0x1F) << 6) | cont(1);
  }
  if (b0 < 0xF0) {
    *length = 3;
    return (static_cast<char32_t>(b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2);
  }
  *length = 4;
  return (static_cast<char32_t>(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
}

inline std::size_t sequence_length_of_lead(unsigned char b0) {
  return b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
}

void append(std::string& out, char32_t cp);
inline std::string encode(char32_t cp) {
  std::string s;
  append(s, cp);
  return s;
}

bool is_valid(std::string_view s);

// True when `tail` is a proper, non-empty prefix of some valid multi-byte
// sequence (more bytes could complete it).
bool is_truncated_sequence(std::string_view tail);

// Appends `bytes` to `out`, replacing invalid subparts by U+FFFD.
void append_lossy(std::string& out, std::string_view bytes);
std::string to_valid(std::string_view bytes);

// Number of code points in valid UTF-8.
std::size_t count_chars(std::string_view s);

// Incremental form of append_lossy: bytes may arrive one at a time; the output
// is identical to append_lossy over their concatenation once finish() is called.
class LossyStream {
 public:
  // Appends the decoded text that is final to `out`.
  void push(std::string_view bytes, std::string& out);
  // Flushes a trailing incomplete sequence (as U+FFFD).
  void finish(std::string& out);
  bool has_pending() const { return pending_len_ != 0; }
  void reset() { pending_len_ = 0; }

 private:
  void push_byte(unsigned char b, std::string& out);
  unsigned char pending_[4] = {};
  std::size_t pending_len_ = 0;
};

}  // namespace mlxs::tokenizer::utf8
