#pragma once
// tokenizer_config.json: the special tokens transformers names (bos, eos, pad,
// unk — plain strings or {"content": ...} objects), add_bos/eos_token and the
// chat template.

#include <string_view>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::tokenizer {

// Ids are resolved later, against the tokenizer.
core::Result<TokenizerConfig> parse_tokenizer_config(std::string_view text);

}  // namespace mlxs::tokenizer
