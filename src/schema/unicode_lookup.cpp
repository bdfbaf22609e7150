// Lookups in the generated tables of unicode_data.cpp.

#include "schema/unicode_data.h"

namespace mlxs::schema {
BidiClass bidi_class(char32_t cp) {
  const CategoryRange* r = core::unicode::find_run(bidi_ranges(), cp);
  return r != nullptr ? static_cast<BidiClass>(r->category) : BidiClass::kL;
}

}  // namespace mlxs::schema
