#pragma once
// Operations on byte automata that grammar construction needs: products
// (intersection, union, difference), literals, concatenation, a whitespace
// prefix, and language tests (emptiness, inclusion, disjointness).

#include <cstddef>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "guidance/dfa.h"

namespace mlxs::guidance {

enum class SetOp : std::uint8_t { kIntersect, kUnion, kSubtract };

core::Result<Dfa> combine(const Dfa& a, const Dfa& b, SetOp op, std::size_t max_states = 1u << 15);
core::Result<Dfa> intersect(const Dfa& a, const Dfa& b);
core::Result<Dfa> unite(const Dfa& a, const Dfa& b);
core::Result<Dfa> subtract(const Dfa& a, const Dfa& b);
// The union of many literals (a trie), e.g. an enum's values.
core::Result<Dfa> literals_dfa(const std::vector<std::string>& words);
Dfa literal_dfa(std::string_view bytes);
// Every string over bytes `bytes` (0 to any length).
Dfa byte_star(std::string_view bytes);
core::Result<Dfa> concat(const Dfa& a, const Dfa& b);
// `prefix` bytes may repeat before the language (JSON whitespace before a
// token). The automaton must not start with one of them.
core::Result<Dfa> with_prefix_loop(const Dfa& dfa, std::string_view prefix);
// The language without the empty string.
core::Result<Dfa> without_empty(const Dfa& dfa);

bool is_subset(const Dfa& a, const Dfa& b);
bool is_disjoint(const Dfa& a, const Dfa& b);
bool accepts_empty(const Dfa& dfa);
// The length of the longest accepted string; -1 when unbounded (a cycle), -2
// when empty.
long longest_match(const Dfa& dfa);

}  // namespace mlxs::guidance
