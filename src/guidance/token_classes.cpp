#include "guidance/token_classes.h"

#include <string_view>

#include "guidance/vocab.h"

namespace mlxs::guidance {

void StateClasses::apply(std::span<std::uint32_t> mask) const {
  if (!dense.empty()) {
    const std::size_t n = std::min(mask.size(), dense.size());
    std::uint32_t* __restrict m = mask.data();
    const std::uint32_t* __restrict d = dense.data();
    for (std::size_t i = 0; i < n; ++i) m[i] |= d[i];
    return;
  }
  for (const std::int32_t id : ids) {
    mask[static_cast<std::size_t>(id) >> 5] |= 1u << (static_cast<std::uint32_t>(id) & 31);
  }
}

StateClasses compute_state_classes(const Dfa& dfa, std::uint32_t state, const TokenVocab& vocab) {
  StateClasses out;
  const TokenTrie& trie = vocab.trie();
  // The automaton state after each depth of the current trie path.
  std::vector<std::uint32_t> states;
  states.resize(std::size_t{trie.max_depth()} + 2);
  std::uint32_t* path = states.data();
  path[0] = state;
  std::vector<std::pair<std::uint32_t, std::uint32_t>>
      ends;  // (node, depth) where the terminal may end
  const std::uint32_t n = trie.size();
  for (std::uint32_t i = 0; i < n;) {
    const std::uint32_t d = trie.depth(i);
    const std::uint32_t s = dfa.next(path[d - 1], trie.byte(i));
    if (s == kDead) {
      i = trie.skip(i);
      continue;
    }
    path[d] = s;
    for (const std::int32_t id : trie.tokens(i)) {
      out.ids.push_back(id);
    }
    if (dfa.accepting(s) && trie.has_children(i)) ends.emplace_back(i, d);
    ++i;
  }
  out.count = static_cast<std::uint32_t>(out.ids.size());
  // A bitmask costs vocab/32 words to apply; ids cost one each.
  if (out.ids.size() > vocab.words() / 2) {
    out.dense.assign(vocab.words(), 0);
    for (const std::int32_t id : out.ids) {
      out.dense[static_cast<std::size_t>(id) >> 5] |= 1u << (static_cast<std::uint32_t>(id) & 31);
    }
    out.ids.clear();
    out.ids.shrink_to_fit();
  }
  if (!ends.empty()) {
    std::vector<std::pair<std::string_view, std::int32_t>> rest;
    for (const auto& [node, depth] : ends) {
      for (std::uint32_t j = node + 1; j < trie.skip(node); ++j) {
        for (const std::int32_t id : trie.tokens(j))
          rest.emplace_back(vocab.bytes(id).substr(depth), id);
      }
    }
    out.rest = TokenTrie::build(std::move(rest));
  }
  return out;
}

}  // namespace mlxs::guidance
