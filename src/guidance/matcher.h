#pragma once
// One sequence's position in a constraint: which tokens may come next (a
// bitmask over the model's vocabulary) and advancing by the sampled token.
//
// fill_mask() ORs, for each terminal in progress, its cached table of tokens
// the terminal consumes whole (token_classes.h), then checks only the tokens
// in which the terminal may end, against what the grammar allows next. After
// the tables a state needs exist, it allocates nothing.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "guidance/compiled_grammar.h"
#include "guidance/parser.h"

namespace mlxs::guidance {

class Matcher {
 public:
  // `stop_ids`: the ids that end the output (allowed only where the grammar
  // may end); empty means the tokenizer's end-of-sequence id.
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar,
                   std::vector<std::int32_t> stop_ids = {});

  // Sets bit i of `bitmask` when token i may come next; clears the others.
  // `bitmask` covers ids [0, 32 * size()); ids past the vocabulary stay clear.
  void fill_mask(std::span<std::uint32_t> bitmask);
  // Consumes `token`. GuidanceError when the grammar does not allow it (the
  // state is then unchanged). A stop id is accepted where the grammar may end
  // and terminates the matcher.
  core::Status advance(std::int32_t token);
  // Consumes raw bytes (tests, forced text); false when refused (no change).
  bool advance_bytes(std::string_view bytes);
  // Undoes the last `tokens` advances (not past reset).
  core::Status rollback(int tokens);
  void reset();

  // The output so far is a complete document (a stop id is allowed).
  bool can_terminate() const { return !terminated_ && parser_.can_accept(); }
  // Complete and nothing else may follow: only a stop id is allowed.
  bool is_complete() const {
    return terminated_ || (parser_.can_accept() && parser_.frontier().empty());
  }
  bool is_terminated() const { return terminated_; }
  // Whether `token` may come next (one token, no mask).
  bool allows(std::int32_t token);

  const CompiledGrammar& grammar() const { return *grammar_; }
  const std::vector<std::int32_t>& stop_ids() const { return stop_ids_; }
  // Reference masks for tests: every token's bytes tried from scratch.
  void fill_mask_brute_force(std::span<std::uint32_t> bitmask);

 private:
  void walk_rest(const TokenTrie& rest, std::span<std::uint32_t> bitmask);

  std::shared_ptr<const CompiledGrammar> grammar_;
  const TokenVocab* vocab_;
  Parser parser_;
  std::vector<std::int32_t> stop_ids_;
  std::vector<Parser::Checkpoint> history_;  // before each advance
  std::vector<Parser::Checkpoint> walk_;     // per depth during a rest walk
  std::vector<std::uint64_t> applied_;       // (terminal, state) tables ORed this fill
  bool terminated_ = false;
};

}  // namespace mlxs::guidance
