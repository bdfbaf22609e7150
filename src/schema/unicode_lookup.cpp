// Lookups in the generated tables of unicode_data.cpp.

#include <algorithm>

#include "schema/unicode_data.h"

namespace mlxs::schema {
namespace {

template <typename Range>
const Range* find_run(std::span<const Range> runs, char32_t cp) {
  auto it = std::upper_bound(runs.begin(), runs.end(), static_cast<std::uint32_t>(cp),
                             [](std::uint32_t v, const Range& r) { return v < r.first; });
  if (it == runs.begin()) return nullptr;
  --it;
  return cp <= it->last ? &*it : nullptr;
}

}  // namespace

GeneralCategory general_category(char32_t cp) {
  const CategoryRange* r = find_run(category_ranges(), cp);
  return r != nullptr ? static_cast<GeneralCategory>(r->category) : GeneralCategory::kCn;
}

BidiClass bidi_class(char32_t cp) {
  const CategoryRange* r = find_run(bidi_ranges(), cp);
  return r != nullptr ? static_cast<BidiClass>(r->category) : BidiClass::kL;
}

}  // namespace mlxs::schema
