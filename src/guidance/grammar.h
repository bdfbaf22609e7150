#pragma once
// A context-free grammar whose terminals are byte automata (terminal.h): the
// one intermediate form that JSON Schema, regex, GBNF and JSON mode compile
// to, and that the Earley parser (parser.h) runs.
//
// Productions are stored flat: each production's symbols followed by an end
// marker, so a position in `rhs()` is a dotted rule (the production and how
// far it has matched) — an Earley item is (position, origin row).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "guidance/terminal.h"

namespace mlxs::guidance {

// A symbol: a nonterminal index, a terminal index with kTerminalBit, or (only
// in rhs()) an end marker kEndBit | production index.
inline constexpr std::uint32_t kTerminalBit = 1u << 31;
inline constexpr std::uint32_t kEndBit = 1u << 30;
inline bool is_terminal(std::uint32_t sym) {
  return (sym & kTerminalBit) != 0;
}
inline bool is_end(std::uint32_t sym) {
  return (sym & kEndBit) != 0 && !is_terminal(sym);
}
inline std::uint32_t terminal_index(std::uint32_t sym) {
  return sym & ~kTerminalBit;
}
inline std::uint32_t end_production(std::uint32_t sym) {
  return sym & ~kEndBit;
}

class Grammar {
 public:
  struct Production {
    std::uint32_t lhs = 0;
    std::uint32_t begin = 0;  // first symbol in rhs()
    std::uint32_t size = 0;
  };

  std::uint32_t num_nonterminals() const { return static_cast<std::uint32_t>(nullable_.size()); }
  std::uint32_t num_terminals() const { return static_cast<std::uint32_t>(terminals_.size()); }
  const Terminal& terminal(std::uint32_t t) const { return *terminals_[t]; }
  const std::vector<std::shared_ptr<const Terminal>>& terminals() const { return terminals_; }
  std::span<const std::uint32_t> rhs() const { return rhs_; }
  const Production& production(std::uint32_t p) const { return prods_[p]; }
  std::uint32_t num_productions() const { return static_cast<std::uint32_t>(prods_.size()); }
  // Productions of nonterminal n: production(p) for p in productions_of(n).
  std::span<const std::uint32_t> productions_of(std::uint32_t n) const {
    return std::span<const std::uint32_t>(by_lhs_).subspan(lhs_begin_[n],
                                                           lhs_begin_[n + 1] - lhs_begin_[n]);
  }
  bool nullable(std::uint32_t n) const { return nullable_[n] != 0; }
  // The augmented start: production 0 is `accept ::= start`.
  std::uint32_t accept_nonterminal() const { return 0; }
  const std::string& name(std::uint32_t n) const { return names_[n]; }
  // Readable dump (tests, debugging).
  std::string to_string() const;

 private:
  friend class GrammarBuilder;
  std::vector<std::shared_ptr<const Terminal>> terminals_;
  std::vector<std::uint32_t> rhs_;
  std::vector<Production> prods_;
  std::vector<std::uint32_t> by_lhs_, lhs_begin_;
  std::vector<std::uint8_t> nullable_;
  std::vector<std::string> names_;
};

class GrammarBuilder {
 public:
  std::uint32_t add_nonterminal(std::string name);
  // The symbol of a terminal (equal terminals give the same symbol).
  std::uint32_t terminal(std::shared_ptr<const Terminal> t);
  void add_production(std::uint32_t lhs, std::vector<std::uint32_t> rhs);
  std::uint32_t num_nonterminals() const { return static_cast<std::uint32_t>(names_.size()); }
  std::size_t num_productions() const { return prods_.size(); }

  // Drops what cannot derive a string or cannot be reached from `start`;
  // GuidanceError when `start` derives nothing ("matches no value").
  core::Result<std::shared_ptr<const Grammar>> build(std::uint32_t start) const;

 private:
  std::vector<std::string> names_;
  std::vector<std::shared_ptr<const Terminal>> terminals_;
  std::vector<std::pair<std::uint32_t, std::vector<std::uint32_t>>> prods_;
  std::unordered_map<const Terminal*, std::uint32_t> terminal_ids_;
};

}  // namespace mlxs::guidance
