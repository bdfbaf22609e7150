#pragma once
// Unicode tables for the IDNA hostname rules (viramas, bidi classes, PVALID),
// generated into unicode_data.cpp by tools/gen_unicode_data.py. General
// categories (the regex engine's \p{...}) come from core/unicode_category.h.

#include <cstdint>
#include <span>
#include <string_view>

#include "core/unicode_category.h"

namespace mlxs::schema {

// General categories live in core (one table for the whole program); the
// names are brought in so the regex and IDNA code read as before.
using core::unicode::category_ranges;
using core::unicode::CategoryRange;
using core::unicode::general_category;
using core::unicode::GeneralCategory;
using core::unicode::kGeneralCategoryCount;

// Sorted code points of canonical combining class 9 (virama).
std::span<const std::uint32_t> virama_code_points();

// The bidi classes RFC 5893 distinguishes (kOther: the rest but L).
enum class BidiClass : std::uint8_t {
  kL,
  kR,
  kAL,
  kAN,
  kEN,
  kES,
  kCS,
  kET,
  kON,
  kBN,
  kNSM,
  kOther
};
// Runs of code points whose class is not L (`category` holds a BidiClass).
std::span<const CategoryRange> bidi_ranges();
BidiClass bidi_class(char32_t cp);

struct CodePointRange {
  std::uint32_t first;
  std::uint32_t last;
};
// Code points PVALID under RFC 5892's derivation, before its exceptions and
// contextual rules (which idna.cpp applies).
std::span<const CodePointRange> idna_pvalid_ranges();

}  // namespace mlxs::schema
