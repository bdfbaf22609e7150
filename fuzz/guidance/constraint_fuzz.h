#pragma once
// Shared by the guidance fuzz targets: a constraint either compiles or is a
// GuidanceError; a compiled one is walked for a few steps over a small
// vocabulary, where every mask must equal the brute-force answer and every
// allowed token must advance.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "guidance/compiler.h"
#include "guidance/matcher.h"

namespace mlxs::guidance::fuzz {

inline std::shared_ptr<const TokenVocab> fuzz_vocab() {
  static const std::shared_ptr<const TokenVocab> vocab = [] {
    std::vector<std::string> tokens{""};
    for (int b = 1; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
    // Byte 0 too (id 0 is the stop token), so that every byte string is
    // spellable and a state with no allowed token is a real dead end, not a
    // grammar asking for a byte this vocabulary lacks.
    tokens.emplace_back(1, '\0');
    for (const char* t : {"{\"", "\":", "\", \"", "\"}", "[{", "}]", "true", "null", "12", "-0.5e3",
                          "ab", "\\u00", "\xC3\xA9", "\xE4\xB8", "  ", "\n"}) {
      tokens.emplace_back(t);
    }
    return TokenVocab::from_tokens(tokens, {0});
  }();
  return vocab;
}

inline void walk(const std::shared_ptr<const CompiledGrammar>& g, std::uint64_t seed) {
  Matcher m(g);
  const std::size_t words = g->vocab().words();
  std::vector<std::uint32_t> fast(words), slow(words);
  for (int step = 0; step < 12; ++step) {
    m.fill_mask(fast);
    m.fill_mask_brute_force(slow);
    if (fast != slow) __builtin_trap();
    std::vector<std::int32_t> allowed;
    for (std::size_t i = 1; i < words * 32 && i < g->vocab().size(); ++i) {
      if (((fast[i >> 5] >> (i & 31)) & 1u) != 0) allowed.push_back(static_cast<std::int32_t>(i));
    }
    if (allowed.empty()) {
      if (!m.can_terminate()) __builtin_trap();  // a state with no way on
      return;
    }
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    if (!m.advance(allowed[(seed >> 33) % allowed.size()]).is_ok()) __builtin_trap();
  }
}

inline void run(ConstraintSpec::Kind kind, std::string_view text) {
  static Compiler compiler(fuzz_vocab(), 0);
  ConstraintSpec spec;
  spec.kind = kind;
  spec.text = std::string(text);
  auto g = compiler.compile(spec);
  if (!g.is_ok()) {
    if (g.status().code() != core::ErrorCode::kGuidanceError) __builtin_trap();
    return;
  }
  std::uint64_t seed = 1469598103934665603ull;
  for (const char c : text) seed = (seed ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;
  walk(*g, seed);
}

}  // namespace mlxs::guidance::fuzz
