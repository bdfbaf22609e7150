#pragma once
// An Earley parser over a Grammar whose terminals are byte automata, fed one
// byte at a time. Rows (Earley sets) are made only where a terminal may end;
// between them each terminal in progress is a frontier entry holding its
// automaton state, so inside a JSON string a byte costs one table lookup per
// entry. Terminals end at every accepting state (not greedily), so the parser
// accepts exactly the grammar's language, ambiguity included.
//
// The whole state is a stack: step() pushes, restore() pops to a checkpoint.
// The matcher uses this to try token bytes speculatively and to roll back.
// Vectors keep their capacity, so steady-state stepping allocates nothing.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "guidance/grammar.h"

namespace mlxs::guidance {

class Parser {
 public:
  struct Entry {
    std::uint32_t row = 0;    // the row whose items wait for the terminal
    std::uint32_t term = 0;   // terminal index
    std::uint32_t state = 0;  // automaton state (never dead)
  };
  struct Checkpoint {
    std::uint32_t levels = 0, entries = 0, rows = 0, items = 0;
  };

  explicit Parser(std::shared_ptr<const Grammar> grammar);

  void reset();
  Checkpoint checkpoint() const {
    return {static_cast<std::uint32_t>(levels_.size()), static_cast<std::uint32_t>(entries_.size()),
            static_cast<std::uint32_t>(rows_.size()), static_cast<std::uint32_t>(items_.size())};
  }
  void restore(const Checkpoint& cp);

  // Consumes one byte; false (and no change) when the grammar refuses it.
  bool step(std::uint8_t byte);
  // Consumes bytes; false (and no change) when any is refused.
  bool step_all(std::span<const std::uint8_t> bytes);
  // Ends the terminal of `e` (a current entry in an accepting-capable
  // position) here and pushes a level holding only what may follow it.
  void complete_entry(const Entry& e);

  // The document may end here.
  bool can_accept() const;
  // The terminals in progress now.
  std::span<const Entry> frontier() const {
    const Level& l = levels_.back();
    return std::span<const Entry>(entries_).subspan(l.begin, l.end - l.begin);
  }
  const Grammar& grammar() const { return *grammar_; }

 private:
  struct Item {
    std::uint32_t dr = 0;      // position in grammar.rhs(): the dotted rule
    std::uint32_t origin = 0;  // row where the production started
  };
  struct Row {
    std::uint32_t begin = 0, end = 0;
    bool accepts = false;
  };
  struct Level {
    std::uint32_t begin = 0, end = 0;  // entries
    std::int32_t row = -1;             // the row made at this position, if any
  };

  std::uint32_t open_row();
  void add_item(std::uint32_t dr, std::uint32_t origin);
  // Items of row `from` waiting for `sym` advance into the open row.
  void advance_from(std::uint32_t from, std::uint32_t sym);
  void close_row(std::uint32_t row);

  std::shared_ptr<const Grammar> grammar_;
  const std::uint32_t* rhs_ = nullptr;
  std::vector<Item> items_;
  std::vector<Row> rows_;
  std::vector<Entry> entries_;
  std::vector<Level> levels_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> completing_;  // (row, term)
  // Duplicate detection for the row being built (open addressing, stamped).
  std::vector<std::uint64_t> seen_key_;
  std::vector<std::uint32_t> seen_stamp_;
  std::uint32_t seen_count_ = 0;
  std::vector<std::uint32_t> term_stamp_;
  std::uint32_t stamp_ = 0;
};

}  // namespace mlxs::guidance
