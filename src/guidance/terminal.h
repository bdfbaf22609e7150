#pragma once
// A grammar terminal: a byte automaton plus, per automaton state, the table of
// which vocabulary tokens it accepts (token_classes.h), computed on first use
// and kept for every grammar that shares the terminal. Terminals are interned
// per tokenizer (TerminalTable), so the same JSON string or number automaton
// met in many schemas computes its tables once.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "guidance/dfa.h"

namespace mlxs::guidance {

struct StateClasses;  // token_classes.h
class TokenVocab;     // vocab.h

class Terminal {
 public:
  explicit Terminal(Dfa dfa);
  ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  const Dfa& dfa() const { return dfa_; }
  // The token table of `state` for `vocab` (computed on first call; every
  // later call is one atomic load). A terminal serves one vocabulary.
  const StateClasses& classes(std::uint32_t state, const TokenVocab& vocab) const;
  // Whether the table of `state` is already computed.
  bool has_classes(std::uint32_t state) const;

 private:
  Dfa dfa_;
  std::unique_ptr<std::atomic<const StateClasses*>[]> slots_;
};

// Interns terminals by automaton: equal automata give the same Terminal.
// Entries die with the last grammar that uses them. Also remembers recent
// automaton constructions (a string of 4096 characters at most, a pattern's
// search automaton, ...), which schemas repeat. Thread-safe.
class TerminalTable {
 public:
  std::shared_ptr<const Terminal> intern(Dfa dfa);
  std::size_t size() const;

  // The automaton built by `build` for `key`, built once while remembered.
  core::Result<std::shared_ptr<const Dfa>> memo(const std::string& key,
                                                const std::function<core::Result<Dfa>()>& build);
  // The same keyed by an input automaton and an operation tag.
  core::Result<std::shared_ptr<const Dfa>> memo(std::uint32_t tag, const Dfa& input,
                                                const std::function<core::Result<Dfa>()>& build);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::vector<std::weak_ptr<const Terminal>>> by_hash_;
  std::size_t inserts_ = 0;
  // Recently built automata (bounded, oldest dropped first).
  std::mutex memo_mutex_;
  std::unordered_map<std::string, std::shared_ptr<const Dfa>> by_key_;
  std::unordered_map<std::uint64_t,
                     std::vector<std::pair<std::shared_ptr<const Dfa>, std::shared_ptr<const Dfa>>>>
      by_input_;
  std::vector<std::string> key_order_;
  std::vector<std::uint64_t> input_order_;
};

}  // namespace mlxs::guidance
