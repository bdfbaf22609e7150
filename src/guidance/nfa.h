#pragma once
// Nondeterministic automata over bytes, built from fragments (Thompson's
// construction), and the subset construction that turns them into DFAs.
// Grammar terminals that are not simple literals (regexes, GBNF character
// classes and repetitions, escaped JSON strings) are assembled here.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "guidance/dfa.h"
#include "schema/code_point_set.h"

namespace mlxs::guidance {

class Nfa {
 public:
  struct Edge {
    std::uint8_t lo = 0, hi = 0;
    std::uint32_t to = 0;
  };
  // One entry and one exit; the exit accepts when the fragment is the whole.
  struct Frag {
    std::uint32_t in = 0, out = 0;
  };

  std::uint32_t add_state();
  void add_edge(std::uint32_t from, std::uint8_t lo, std::uint8_t hi, std::uint32_t to);
  void add_eps(std::uint32_t from, std::uint32_t to);
  std::uint32_t size() const { return static_cast<std::uint32_t>(edges_.size()); }
  const std::vector<Edge>& edges(std::uint32_t s) const { return edges_[s]; }
  const std::vector<std::uint32_t>& eps(std::uint32_t s) const { return eps_[s]; }

  Frag empty();
  Frag literal(std::string_view bytes);
  Frag byte_range(std::uint8_t lo, std::uint8_t hi);
  // One code point of the set, as UTF-8.
  Frag code_points(const schema::CodePointSet& set);
  Frag any_code_point();
  Frag concat(Frag a, Frag b);
  Frag alt(Frag a, Frag b);
  Frag star(Frag a);
  Frag plus(Frag a);
  Frag optional(Frag a);
  // make() builds a fresh copy of the body each time it is called.
  Frag repeat(const std::function<Frag()>& make, std::uint32_t min, std::uint32_t max_or_unbounded);
  static constexpr std::uint32_t kUnbounded = 0xFFFFFFFFu;
  // The automaton's language as a fragment (its states are copied in).
  Frag embed(const Dfa& dfa);

 private:
  std::vector<std::vector<Edge>> edges_;
  std::vector<std::vector<std::uint32_t>> eps_;
};

// The DFA of the fragment's language (exit = the only accepting state),
// finalized. GuidanceError past `max_states` (subset or minimal states).
core::Result<Dfa> nfa_to_dfa(const Nfa& nfa, Nfa::Frag frag, std::size_t max_states = 1u << 15);

// The same with several accepting states (used by the regex translation).
core::Result<Dfa> nfa_to_dfa(const Nfa& nfa, std::uint32_t start,
                             const std::vector<std::uint8_t>& accept,
                             std::size_t max_states = 1u << 15);

}  // namespace mlxs::guidance
