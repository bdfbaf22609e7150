#pragma once
// Deterministic automata over bytes: the form every terminal of a grammar
// takes (JSON strings and numbers, object keys, literals, regexes).
//
// RawDfa is the construction form (a full 256-wide row per state). finalize()
// turns it into a Dfa: trimmed (every live state can still reach an accepting
// one, so "not dead" means "can still match"), minimal, with bytes grouped
// into classes that every state treats alike, and numbered canonically
// (breadth first from the start), so two automata of the same language are
// equal byte for byte and can share their per-state token tables.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxs::guidance {

// State 0 of every automaton: never accepts, every byte leads back to it.
inline constexpr std::uint32_t kDead = 0;

struct RawDfa {
  std::vector<std::array<std::uint32_t, 256>> next;  // next[s][byte]; row 0 is the dead state
  std::vector<std::uint8_t> accept;
  std::uint32_t start = kDead;

  RawDfa();  // holds the dead state only
  std::uint32_t add_state(bool accepting = false);
  std::uint32_t size() const { return static_cast<std::uint32_t>(next.size()); }
};

// The compact construction form: bytes already grouped into classes (every
// state must treat the bytes of a class alike). Products and large counters
// build this directly instead of 256-wide rows.
struct TableDfa {
  std::array<std::uint8_t, 256> class_of{};
  std::uint32_t classes = 1;
  std::vector<std::uint32_t> next;  // states x classes; state 0 is the dead state
  std::vector<std::uint8_t> accept;
  std::uint32_t start = kDead;

  explicit TableDfa(std::uint32_t num_classes = 1);  // holds the dead state only
  std::uint32_t add_state(bool accepting = false);
  std::uint32_t size() const { return static_cast<std::uint32_t>(accept.size()); }
  std::uint32_t& at(std::uint32_t state, std::uint32_t c) {
    return next[std::size_t{state} * classes + c];
  }
};

class Dfa {
 public:
  Dfa();  // the empty language

  std::uint32_t start() const { return start_; }
  std::uint32_t num_states() const { return static_cast<std::uint32_t>(accept_.size()); }
  std::uint32_t num_classes() const { return num_classes_; }
  std::uint32_t next(std::uint32_t state, std::uint8_t byte) const {
    return next_[state * num_classes_ + class_of_[byte]];
  }
  bool accepting(std::uint32_t state) const { return accept_[state] != 0; }
  // Some byte leads on from `state` (false for the dead state and for
  // accepting states that end every match).
  bool has_out(std::uint32_t state) const { return has_out_[state] != 0; }
  bool empty() const { return start_ == kDead; }
  // True when `state` accepts and no byte leads on from it.
  bool final_only(std::uint32_t state) const;

  std::uint8_t class_of(std::uint8_t byte) const { return class_of_[byte]; }
  // A byte of class c (the smallest).
  std::uint8_t representative(std::uint32_t c) const { return repr_[c]; }
  std::uint32_t next_class(std::uint32_t state, std::uint32_t c) const {
    return next_[state * num_classes_ + c];
  }

  bool matches(std::string_view bytes) const;
  std::uint64_t hash() const { return hash_; }
  friend bool operator==(const Dfa& a, const Dfa& b);

  // The construction forms of this automaton.
  RawDfa to_raw() const;
  TableDfa to_table() const;

 private:
  friend core::Result<Dfa> finalize(const TableDfa& table, std::size_t max_states);
  std::array<std::uint8_t, 256> class_of_{};
  std::array<std::uint8_t, 256> repr_{};
  std::uint32_t num_classes_ = 1;
  std::vector<std::uint32_t> next_;
  std::vector<std::uint8_t> accept_;
  std::vector<std::uint8_t> has_out_;
  std::uint32_t start_ = kDead;
  std::uint64_t hash_ = 0;
};

// A copy of `t` whose classes also tell apart the bytes for which
// `isolate(byte)` returns distinct non-negative keys (-1: no need).
template <typename Isolate>
TableDfa refine_classes(const TableDfa& t, Isolate isolate);

// Trim, minimise and number canonically. GuidanceError when the minimal
// automaton has more than `max_states` states.
core::Result<Dfa> finalize(const RawDfa& raw, std::size_t max_states = 1u << 16);
core::Result<Dfa> finalize(const TableDfa& table, std::size_t max_states = 1u << 16);

template <typename Isolate>
TableDfa refine_classes(const TableDfa& t, Isolate isolate) {
  std::vector<std::pair<std::uint32_t, std::int32_t>> seen;
  std::vector<std::uint32_t> source;  // old class of each new class
  TableDfa out;
  for (int b = 0; b < 256; ++b) {
    const auto k = std::make_pair<std::uint32_t, std::int32_t>(
        t.class_of[b], isolate(static_cast<std::uint8_t>(b)));
    std::size_t c = 0;
    while (c < seen.size() && seen[c] != k) ++c;
    if (c == seen.size()) {
      seen.push_back(k);
      source.push_back(t.class_of[b]);
    }
    out.class_of[b] = static_cast<std::uint8_t>(c);
  }
  out.classes = static_cast<std::uint32_t>(seen.size());
  out.accept = t.accept;
  out.start = t.start;
  out.next.assign(std::size_t{t.size()} * out.classes, kDead);
  for (std::uint32_t s = 0; s < t.size(); ++s) {
    for (std::uint32_t c = 0; c < out.classes; ++c)
      out.next[std::size_t{s} * out.classes + c] = t.next[std::size_t{s} * t.classes + source[c]];
  }
  return out;
}

}  // namespace mlxs::guidance
