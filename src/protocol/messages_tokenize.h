#pragma once
// Messages of tokenize and batch_tokenize (compat/jsonrpc.md §4.12-4.13),
// and of our detokenize extension (its inverse, for POST /v1/detokenize).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/codec.h"

namespace mlxs::protocol {

struct TokenizeParams {
  std::string model_id;
  std::string text;
  bool add_special_tokens = true;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("text", s.text);
    v("add_special_tokens", s.add_special_tokens);
  }
};

struct TokenizeResult {
  std::vector<std::int32_t> tokens;
  // Left out when the answer would not fit one line with them.
  std::optional<std::vector<std::string>> token_strings;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("tokens", s.tokens);
    v("token_strings", s.token_strings);
  }
};

// Ours: token ids back to text, as the tokenizer's decode does.
struct DetokenizeParams {
  std::string model_id;
  std::vector<std::int32_t> tokens;
  bool skip_special_tokens = false;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("tokens", s.tokens);
    v("skip_special_tokens", s.skip_special_tokens);
  }
};

struct DetokenizeResult {
  std::string text;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("text", s.text);
  }
};

}  // namespace mlxs::protocol
