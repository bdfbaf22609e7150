#pragma once
// GPT-2's byte-level alphabet: every byte is shown as one printable character
// (printable Latin-1 bytes as themselves, the rest as U+0100 onwards).

#include <cstdint>
#include <string>
#include <string_view>

namespace mlxs::tokenizer::byte_level {

// The UTF-8 of the character standing for byte b (1 or 2 bytes long).
std::string_view char_of_byte(std::uint8_t b);
// The byte a character stands for, or -1.
int byte_of_char(char32_t c);
// Appends the byte-level characters of every byte of `in`.
void encode_bytes(std::string_view in, std::string& out);
// ByteLevel decoder per token: the bytes the token's characters stand for, or
// the token's own UTF-8 when some character is outside the alphabet.
void decode_token(std::string_view token, std::string& out);

}  // namespace mlxs::tokenizer::byte_level
