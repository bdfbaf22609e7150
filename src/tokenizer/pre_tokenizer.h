#pragma once
// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): cut each text piece into
// the words the model tokenizes separately.

#include <memory>
#include <string_view>

#include "core/status.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pieces.h"

namespace mlxs::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Appends to `out` the pieces of one text piece (`at_start`: it begins the
  // original input; Metaspace's prepend_scheme "first" needs it).
  virtual core::Status split(std::string_view text, bool at_start, PieceBuffer& out) const = 0;

  // Runs split() over every text piece of `in`; added tokens pass unchanged.
  core::Status run(const PieceBuffer& in, PieceBuffer& out) const;
};

// Null JSON -> nullptr.
core::Result<std::unique_ptr<PreTokenizer>> parse_pre_tokenizer(const Json& json,
                                                                std::string_view path);

}  // namespace mlxs::tokenizer
