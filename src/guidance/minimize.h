#pragma once
// Hopcroft's partition refinement: the coarsest partition of an automaton's
// states that keeps accepting apart from rejecting and is stable under every
// input class. Used by finalize() to make automata minimal.

#include <cstdint>
#include <span>
#include <vector>

namespace mlxs::guidance {

// `next` is a states x classes table (row-major); returns the block of each
// state. Blocks are numbered 0..count-1 in no particular order.
std::vector<std::uint32_t> minimize_partition(std::uint32_t states, std::uint32_t classes,
                                              std::span<const std::uint32_t> next,
                                              std::span<const std::uint8_t> accept,
                                              std::uint32_t* block_count);

}  // namespace mlxs::guidance
