#pragma once
// The vocabulary as a grammar sees it: the exact bytes each token id adds to
// the output (byte-level BPE pieces are mapped back to raw bytes, so a token
// may hold part of a UTF-8 character), the end-of-sequence ids, and the token
// trie. Special tokens have no bytes: a grammar never allows them (only the
// end-of-sequence ids, when the grammar may end).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "guidance/token_trie.h"

namespace mlxs::tokenizer {
class Tokenizer;
}

namespace mlxs::guidance {

class TokenVocab {
 public:
  static core::Result<std::shared_ptr<const TokenVocab>> from_tokenizer(
      const tokenizer::Tokenizer& tok);
  // `bytes[id]` empty: the id is never allowed. For tests and synthetic vocabularies.
  static std::shared_ptr<const TokenVocab> from_tokens(const std::vector<std::string>& bytes,
                                                       std::vector<std::int32_t> eos_ids);

  // Ids are [0, size()); the bitmask has words() 32-bit words.
  std::size_t size() const { return offsets_.size() - 1; }
  std::size_t words() const { return (size() + 31) / 32; }
  std::string_view bytes(std::int32_t id) const {
    const auto i = static_cast<std::size_t>(id);
    return std::string_view(data_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  const std::vector<std::int32_t>& eos_ids() const { return eos_; }
  const TokenTrie& trie() const { return trie_; }
  // Identifies the vocabulary (compile caches key on it).
  std::uint64_t fingerprint() const { return fingerprint_; }

 private:
  void finish();
  std::string data_;
  std::vector<std::uint32_t> offsets_{0};
  std::vector<std::int32_t> eos_;
  TokenTrie trie_;
  std::uint64_t fingerprint_ = 0;
};

}  // namespace mlxs::guidance
