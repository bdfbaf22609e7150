#pragma once
// Post-processors of tokenizer.json ("post_processor"): what add_special_tokens
// adds around a single sequence (TemplateProcessing, BertProcessing,
// RobertaProcessing; ByteLevel only adjusts offsets, so adds nothing).

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/json_fields.h"

namespace mlxs::tokenizer {

class PostProcessor {
 public:
  // The ids around one sequence: prefix + sequence + suffix.
  std::vector<std::int32_t> prefix, suffix;

  void apply(std::vector<std::int32_t>& ids) const {
    if (!prefix.empty()) ids.insert(ids.begin(), prefix.begin(), prefix.end());
    ids.insert(ids.end(), suffix.begin(), suffix.end());
  }
};

// `token_id` resolves a token string (Bert/Roberta give strings and ids).
core::Result<PostProcessor> parse_post_processor(const Json& json, std::string_view path);

}  // namespace mlxs::tokenizer
