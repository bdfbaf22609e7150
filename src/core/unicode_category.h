#pragma once
// Unicode general categories: the program's one table of them (generated into
// unicode_category_data.cpp by tools/gen_unicode_category.py), shared by the
// schema regex engine (\p{...}) and the tokenizer's pre-tokenizers.

#include <cstdint>
#include <span>
#include <string_view>

namespace mlxs::core::unicode {

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

// A run of code points [first, last] sharing one value (here a category).
struct CategoryRange {
  std::uint32_t first;
  std::uint32_t last;
  std::uint8_t category;
};

// Sorted, disjoint runs covering every assigned code point.
std::span<const CategoryRange> category_ranges();
std::string_view unicode_version();

GeneralCategory general_category(char32_t cp);

// The run holding `cp` in sorted, disjoint runs, or null.
template <typename Range>
const Range* find_run(std::span<const Range> runs, char32_t cp) {
  std::size_t lo = 0;
  std::size_t hi = runs.size();
  while (lo < hi) {  // first run starting after cp
    const std::size_t mid = (lo + hi) / 2;
    if (static_cast<std::uint32_t>(cp) < runs[mid].first) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  if (lo == 0) return nullptr;
  const Range& r = runs[lo - 1];
  return cp <= r.last ? &r : nullptr;
}

}  // namespace mlxs::core::unicode
