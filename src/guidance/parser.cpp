#include "guidance/parser.h"

namespace mlxs::guidance {
namespace {

std::uint64_t item_key(std::uint32_t dr, std::uint32_t origin) {
  return (std::uint64_t{dr} << 32) | origin;
}

std::size_t hash_key(std::uint64_t k) {
  return static_cast<std::size_t>((k * 0x9e3779b97f4a7c15ull) >> 32);
}

}  // namespace

Parser::Parser(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  rhs_ = grammar_->rhs().data();
  term_stamp_.assign(grammar_->num_terminals(), 0);
  seen_key_.assign(256, 0);
  seen_stamp_.assign(256, 0);
  items_.reserve(1024);
  rows_.reserve(256);
  entries_.reserve(1024);
  levels_.reserve(1024);
  reset();
}

void Parser::reset() {
  items_.clear();
  rows_.clear();
  entries_.clear();
  levels_.clear();
  const std::uint32_t row = open_row();
  add_item(grammar_->production(0).begin, 0);
  close_row(row);
  levels_.push_back({0, static_cast<std::uint32_t>(entries_.size()), 0});
}

void Parser::restore(const Checkpoint& cp) {
  levels_.resize(cp.levels);
  entries_.resize(cp.entries);
  rows_.resize(cp.rows);
  items_.resize(cp.items);
}

std::uint32_t Parser::open_row() {
  ++stamp_;
  seen_count_ = 0;
  rows_.push_back({static_cast<std::uint32_t>(items_.size()),
                   static_cast<std::uint32_t>(items_.size()), false});
  return static_cast<std::uint32_t>(rows_.size() - 1);
}

void Parser::add_item(std::uint32_t dr, std::uint32_t origin) {
  const std::uint64_t key = item_key(dr, origin);
  std::size_t mask = seen_key_.size() - 1;
  if ((seen_count_ + 1) * 2 > seen_key_.size()) {
    // Grow the table (rare: only rows larger than any before).
    std::vector<std::uint64_t> old_key(seen_key_.size() * 2, 0);
    std::vector<std::uint32_t> old_stamp(seen_key_.size() * 2, 0);
    old_key.swap(seen_key_);
    old_stamp.swap(seen_stamp_);
    mask = seen_key_.size() - 1;
    for (std::size_t i = 0; i < old_key.size(); ++i) {
      if (old_stamp[i] != stamp_) continue;
      std::size_t h = hash_key(old_key[i]) & mask;
      while (seen_stamp_[h] == stamp_) h = (h + 1) & mask;
      seen_key_[h] = old_key[i];
      seen_stamp_[h] = stamp_;
    }
  }
  std::size_t h = hash_key(key) & mask;
  while (seen_stamp_[h] == stamp_) {
    if (seen_key_[h] == key) return;
    h = (h + 1) & mask;
  }
  seen_key_[h] = key;
  seen_stamp_[h] = stamp_;
  ++seen_count_;
  items_.push_back({dr, origin});
}

void Parser::advance_from(std::uint32_t from, std::uint32_t sym) {
  const Row r = rows_[from];
  for (std::uint32_t j = r.begin; j < r.end; ++j) {
    const Item x = items_[j];
    if (rhs_[x.dr] == sym) add_item(x.dr + 1, x.origin);
  }
}

void Parser::close_row(std::uint32_t row) {
  const Grammar& g = *grammar_;
  for (std::uint32_t i = rows_[row].begin; i < items_.size(); ++i) {
    const Item it = items_[i];
    const std::uint32_t sym = rhs_[it.dr];
    if (is_terminal(sym)) {
      const std::uint32_t t = terminal_index(sym);
      if (term_stamp_[t] != stamp_) {
        term_stamp_[t] = stamp_;
        entries_.push_back({row, t, g.terminal(t).dfa().start()});
      }
    } else if (is_end(sym)) {
      const std::uint32_t lhs = g.production(end_production(sym)).lhs;
      if (lhs == g.accept_nonterminal()) {
        if (it.origin == 0) rows_[row].accepts = true;
        continue;
      }
      // Completions from this very row derived the empty string; the
      // nullable rule at prediction time already advanced their parents.
      if (it.origin == row) continue;
      advance_from(it.origin, lhs);
    } else {
      for (const std::uint32_t p : g.productions_of(sym)) add_item(g.production(p).begin, row);
      if (g.nullable(sym)) add_item(it.dr + 1, it.origin);
    }
  }
  rows_[row].end = static_cast<std::uint32_t>(items_.size());
}

bool Parser::step(std::uint8_t byte) {
  const Level cur = levels_.back();
  const Checkpoint cp = checkpoint();
  completing_.clear();
  const Grammar& g = *grammar_;
  for (std::uint32_t i = cur.begin; i < cur.end; ++i) {
    const Entry e = entries_[i];
    const Dfa& dfa = g.terminal(e.term).dfa();
    const std::uint32_t s = dfa.next(e.state, byte);
    if (s == kDead) continue;
    // A state nothing can follow only matters for the completion below.
    if (dfa.has_out(s)) entries_.push_back({e.row, e.term, s});
    if (dfa.accepting(s)) completing_.emplace_back(e.row, e.term);
  }
  std::int32_t row = -1;
  if (!completing_.empty()) {
    const std::uint32_t r = open_row();
    // completing_ is not touched by close_row, so iterate it directly.
    for (const auto& [from, term] : completing_) advance_from(from, term | kTerminalBit);
    close_row(r);
    row = static_cast<std::int32_t>(r);
  }
  const auto end = static_cast<std::uint32_t>(entries_.size());
  if (end == cp.entries && (row < 0 || !rows_[static_cast<std::size_t>(row)].accepts)) {
    restore(cp);
    return false;
  }
  levels_.push_back({cp.entries, end, row});
  return true;
}

bool Parser::step_all(std::span<const std::uint8_t> bytes) {
  const Checkpoint cp = checkpoint();
  for (const std::uint8_t b : bytes) {
    if (!step(b)) {
      restore(cp);
      return false;
    }
  }
  return true;
}

void Parser::complete_entry(const Entry& e) {
  const auto begin = static_cast<std::uint32_t>(entries_.size());
  const std::uint32_t r = open_row();
  advance_from(e.row, e.term | kTerminalBit);
  close_row(r);
  levels_.push_back(
      {begin, static_cast<std::uint32_t>(entries_.size()), static_cast<std::int32_t>(r)});
}

bool Parser::can_accept() const {
  const Level& l = levels_.back();
  return l.row >= 0 && rows_[static_cast<std::size_t>(l.row)].accepts;
}

}  // namespace mlxs::guidance
