#pragma once
// Unicode tables: general categories (the regex engine's \p{...} escapes) and
// what the IDNA hostname rules need (viramas, bidi classes, PVALID). unicode_data.cpp is generated
// by tools/gen_unicode_data.py.

#include <cstdint>
#include <span>
#include <string_view>

namespace mlxs::schema {

// The order is the generator's CATEGORIES list; kCn (unassigned) is 0.
enum class GeneralCategory : std::uint8_t {
  kCn,
  kLu,
  kLl,
  kLt,
  kLm,
  kLo,
  kMn,
  kMc,
  kMe,
  kNd,
  kNl,
  kNo,
  kPc,
  kPd,
  kPs,
  kPe,
  kPi,
  kPf,
  kPo,
  kSm,
  kSc,
  kSk,
  kSo,
  kZs,
  kZl,
  kZp,
  kCc,
  kCf,
  kCs,
  kCo,
};
inline constexpr int kGeneralCategoryCount = static_cast<int>(GeneralCategory::kCo) + 1;

struct CategoryRange {
  std::uint32_t first;
  std::uint32_t last;
  std::uint8_t category;  // a GeneralCategory
};

// Sorted, disjoint runs covering every assigned code point.
std::span<const CategoryRange> category_ranges();
std::string_view unicode_data_version();

GeneralCategory general_category(char32_t cp);

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
