#pragma once
// Added tokens (tokenizer.json "added_tokens"): found in the text before the
// model runs, with tokenizers' rules — leftmost-longest matching, then the
// single_word / lstrip / rstrip flags; tokens marked "normalized" are matched
// in the normalized text, the others in the raw text.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pieces.h"

namespace mlxs::tokenizer {

class Normalizer;

struct AddedToken {
  std::int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = true;
};

core::Result<std::vector<AddedToken>> parse_added_tokens(const Json& json, std::string_view path);

// A byte trie answering "the longest token starting here".
class TokenTrie {
 public:
  void build(
      const std::vector<std::pair<std::string, std::int32_t>>& patterns);  // (text, token index)
  bool empty() const { return nodes_.size() <= 1; }
  // Longest pattern starting at text[pos]: returns its token index and sets *end; -1 if none.
  std::int32_t longest_at(std::string_view text, std::size_t pos, std::size_t* end) const;
  bool may_start(unsigned char b) const { return first_[b]; }

 private:
  struct Node {
    std::int32_t value = -1;
    std::uint32_t edge_begin = 0, edge_count = 0;
  };
  std::vector<Node> nodes_;
  std::vector<std::pair<unsigned char, std::uint32_t>> edges_;  // sorted per node
  std::array<std::uint32_t, 256> root_{};                       // 0 = no child
  std::array<bool, 256> first_{};
};

class AddedVocab {
 public:
  // `normalizer` (may be null) gives the form of tokens marked normalized.
  core::Status build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Cuts `text` into text pieces and added tokens using the raw-text tokens.
  void split_raw(std::string_view text, bool at_start, PieceBuffer& out) const {
    split(raw_, text, at_start, out);
  }
  // The same over normalized text with the normalized tokens.
  void split_normalized(std::string_view text, bool at_start, PieceBuffer& out) const {
    split(normalized_, text, at_start, out);
  }
  bool has_raw() const { return !raw_.empty(); }
  bool has_normalized() const { return !normalized_.empty(); }

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // The added token with this id, or nullptr.
  const AddedToken* by_id(std::int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;

 private:
  void split(const TokenTrie& trie, std::string_view text, bool at_start, PieceBuffer& out) const;
  std::vector<AddedToken> tokens_;
  std::vector<std::int32_t> index_of_id_;  // id -> index in tokens_, -1
  std::unordered_map<std::string, std::int32_t>
      index_of_content_;  // the last token with that content
  TokenTrie raw_, normalized_;
};

}  // namespace mlxs::tokenizer
