#pragma once
// Turns a model directory's weights into one rank's shard before they are
// bound: a row slice stays a view into the memory-mapped safetensors file
// (rows of a row-major matrix are contiguous, so nothing is copied and the
// other ranks' rows are never paged in), a column slice of a row-parallel
// matrix (o_proj, down_proj) and the parts of a fused matrix are copied into
// the rank's own buffer, and a row-parallel bias is zeros on every rank but
// the first. The binder then sees tensors in the rank's local shapes.

#include "core/status.h"
#include "model/safetensors.h"
#include "model/shard_plan.h"

namespace mlxs::model {

// ModelLoadError when a tensor to split does not have the extent the config
// implies (the check happens before any byte of it is read).
core::Status shard_weights(WeightStore& store, const ShardPlan& plan);

}  // namespace mlxs::model
