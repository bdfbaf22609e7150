#include "core/unicode_category.h"

namespace mlxs::core::unicode {

GeneralCategory general_category(char32_t cp) {
  const CategoryRange* r = find_run(category_ranges(), cp);
  return r != nullptr ? static_cast<GeneralCategory>(r->category) : GeneralCategory::kCn;
}

}  // namespace mlxs::core::unicode
