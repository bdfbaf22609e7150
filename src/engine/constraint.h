#pragma once
// A per-request limit on what may be generated (structured output). For each
// sequence the engine starts a ConstraintState, asks it before every sample
// which tokens may come next (a bitmask that the CPU sampler applies to the
// logits), and tells it the sampled token afterwards. The engine knows nothing
// of what the constraint is; runtime/guidance_hook builds them from
// src/guidance grammars.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"

namespace mlxs::engine {

class ConstraintState {
 public:
  virtual ~ConstraintState() = default;
  // Sets bit i of `mask` when token i may come next and clears the others;
  // `mask` has ceil(vocab / 32) words for the model's vocabulary.
  virtual void fill_mask(std::span<std::uint32_t> mask) = 0;
  // The sampled token (a stop id included). An error ends the sequence.
  virtual core::Status advance(std::int32_t token) = 0;
};

class Constraint {
 public:
  virtual ~Constraint() = default;
  // A fresh state for one sequence. `stop_ids` end the output; the state
  // allows them only where the constraint may end.
  virtual std::unique_ptr<ConstraintState> start(std::vector<std::int32_t> stop_ids) const = 0;
};

}  // namespace mlxs::engine
