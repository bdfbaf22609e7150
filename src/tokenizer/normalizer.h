#pragma once
// Normalizers of tokenizer.json ("normalizer"): string -> string transforms run
// on each piece that is not an added token. Offsets are not tracked: this
// engine returns ids, not alignments.

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/json_fields.h"

namespace mlxs::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `in` is valid UTF-8; appends the normalized text to `out`.
  virtual core::Status normalize(std::string_view in, std::string& out) const = 0;
};

// Null JSON -> nullptr (no normalizer).
core::Result<std::unique_ptr<Normalizer>> parse_normalizer(const Json& json, std::string_view path);

}  // namespace mlxs::tokenizer
