#pragma once
// What one terminal state makes of the vocabulary, independent of the rest of
// the grammar: the tokens the terminal consumes whole (allowed whatever
// follows, since every live state can still finish the terminal), and the
// tokens in which the terminal may end part-way (their remaining bytes, kept
// in a small trie, depend on what the grammar allows next and are checked at
// mask time). Everything else is refused by the terminal alone. This is the
// context-independent part of a mask that the matcher caches.

#include <cstdint>
#include <span>
#include <vector>

#include "guidance/dfa.h"
#include "guidance/token_trie.h"

namespace mlxs::guidance {

class TokenVocab;

struct StateClasses {
  // Tokens consumed whole: a bitmask (`dense`, vocab words) when many, else ids.
  std::vector<std::uint32_t> dense;
  std::vector<std::int32_t> ids;
  std::uint32_t count = 0;
  // Tokens in which the terminal ends before their last byte, keyed by the
  // bytes left after that point (a token may appear at several points).
  TokenTrie rest;

  // ORs the whole-token set into `mask` (vocab words long).
  void apply(std::span<std::uint32_t> mask) const;
};

StateClasses compute_state_classes(const Dfa& dfa, std::uint32_t state, const TokenVocab& vocab);

}  // namespace mlxs::guidance
