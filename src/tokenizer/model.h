#pragma once
// Models of tokenizer.json ("model"): BPE (byte-level and SentencePiece-style),
// WordPiece and WordLevel. A model turns one pre-tokenized word into ids.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/vocab.h"

namespace mlxs::tokenizer {

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `word` (valid UTF-8, non-empty) to `ids`.
  virtual core::Status tokenize(std::string_view word, std::vector<std::int32_t>& ids) const = 0;
  virtual const Vocab& vocab() const = 0;
  // Empties any per-thread memo of past words (each thread's at its next use).
  virtual void clear_cache() const {}
};

core::Result<std::unique_ptr<Model>> parse_model(const Json& json, std::string_view path);

}  // namespace mlxs::tokenizer
