#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace mlxs::tokenizer::byte_level {
namespace {

struct Tables {
  std::array<char32_t, 256> char_of{};
  std::array<char, 512> utf8{};  // two bytes per entry
  std::array<std::uint8_t, 256> utf8_len{};
  std::array<std::int16_t, 324> byte_of{};  // indexed by code point (all < 324)

  Tables() {
    byte_of.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      char_of[static_cast<std::size_t>(b)] = c;
      byte_of[c] = static_cast<std::int16_t>(b);
      std::string s;
      utf8::append(s, c);
      utf8_len[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(s.size());
      for (std::size_t i = 0; i < s.size(); ++i) utf8[static_cast<std::size_t>(b) * 2 + i] = s[i];
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string_view char_of_byte(std::uint8_t b) {
  const Tables& t = tables();
  return {t.utf8.data() + static_cast<std::size_t>(b) * 2, t.utf8_len[b]};
}

int byte_of_char(char32_t c) {
  const Tables& t = tables();
  return c < t.byte_of.size() ? t.byte_of[c] : -1;
}

void encode_bytes(std::string_view in, std::string& out) {
  const Tables& t = tables();
  for (const char ch : in) {
    const auto b = static_cast<std::size_t>(static_cast<unsigned char>(ch));
    out.append(t.utf8.data() + b * 2, t.utf8_len[b]);
  }
}

void decode_token(std::string_view token, std::string& out) {
  const std::size_t mark = out.size();
  std::size_t i = 0;
  while (i < token.size()) {
    std::size_t len = 0;
    const int b = byte_of_char(utf8::decode_valid(token, i, &len));
    if (b < 0) {
      out.resize(mark);
      out.append(token);
      return;
    }
    out.push_back(static_cast<char>(b));
    i += len;
  }
}

}  // namespace mlxs::tokenizer::byte_level
