#pragma once
// Builds a DFA by exploring a state machine given as a step function over
// packed 64-bit keys: the easy way to write counters, digit comparisons and
// residues (JSON numbers, string lengths) that regexes express badly.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "guidance/dfa.h"

namespace mlxs::guidance {

// step(key, byte) -> the next key, or nullopt for a refused byte;
// accept(key) -> whether the input may end there.
template <typename Step, typename Accept>
core::Result<Dfa> build_dfa(std::uint64_t start, Step step, Accept accept,
                            std::size_t max_states = 1u << 15) {
  RawDfa raw;
  std::unordered_map<std::uint64_t, std::uint32_t> ids;
  std::vector<std::uint64_t> keys{0};
  const auto id_of = [&](std::uint64_t key) {
    auto [it, fresh] = ids.emplace(key, static_cast<std::uint32_t>(keys.size()));
    if (fresh) {
      raw.add_state(accept(key));
      keys.push_back(key);
    }
    return it->second;
  };
  raw.start = id_of(start);
  for (std::size_t s = 1; s < keys.size(); ++s) {
    if (keys.size() > max_states) {
      return core::make_error(core::ErrorCode::kGuidanceError,
                              "automaton too large: more than {} states", max_states);
    }
    const std::uint64_t key = keys[s];
    for (int b = 0; b < 256; ++b) {
      const std::optional<std::uint64_t> next = step(key, static_cast<std::uint8_t>(b));
      if (next) {
        const std::uint32_t t = id_of(*next);
        raw.next[s][b] = t;
      }
    }
  }
  return finalize(raw, max_states);
}

}  // namespace mlxs::guidance
