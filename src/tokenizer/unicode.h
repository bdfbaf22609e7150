#pragma once
// Unicode properties and normalization forms (NFC/NFD/NFKC/NFKD, lowercase)
// over the generated tables, so that no Unicode library is needed.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/unicode_category.h"

namespace mlxs::tokenizer::unicode {

// The general category, from core's one table.
using Category = core::unicode::GeneralCategory;

Category category(char32_t cp);
bool is_letter(char32_t cp);
bool is_mark(char32_t cp);
bool is_number(char32_t cp);       // N* (Rust char::is_numeric)
bool is_punctuation(char32_t cp);  // P*
bool is_symbol(char32_t cp);       // S*
bool is_control(
    char32_t cp);  // Cc, Cf, Cn, Co (BERT's notion, with its exceptions applied by callers)
bool is_whitespace(char32_t cp);  // the White_Space property (Rust char::is_whitespace)
bool is_alphanumeric(
    char32_t cp);  // letters, Nl and numbers (Rust char::is_alphanumeric, approx. Alphabetic)
bool is_word_char(char32_t cp);  // regex \w: letters, marks, Nd, Pc, joiners
std::uint8_t combining_class(char32_t cp);

enum class Form : std::uint8_t { kNfc, kNfd, kNfkc, kNfkd };
// `in` must be valid UTF-8.
void normalize(std::string_view in, Form form, std::string& out);
// True when NFC cannot change `s` (fast check: no code point that takes part
// in composition, reordering or decomposition).
bool is_nfc_quick(std::string_view s);

// Rust's str::to_lowercase per character (unconditional full mappings).
void lowercase(std::string_view in, std::string& out);

// NFD then removal of nonspacing marks (BERT's strip_accents).
void strip_accents(std::string_view in, std::string& out);

}  // namespace mlxs::tokenizer::unicode
