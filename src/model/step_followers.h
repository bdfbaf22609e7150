#pragma once
// The other ranks of a tensor-parallel group, as the code that drives rank 0
// (the engine, the Runner) sees them: they make KV caches of the same blocks
// as rank 0's and run every forward pass rank 0 runs, on the same batch.
// engine::TensorParallelGroup implements it with a thread per rank.

#include "core/status.h"
#include "model/model.h"
#include "tensor/backend.h"

namespace mlxs::model {

class StepFollowers {
 public:
  virtual ~StepFollowers() = default;
  // Every follower makes its KV cache of `blocks` blocks (its own kv heads),
  // so rank 0's block ids are valid on every rank.
  virtual core::Status create_kv(int blocks, int block_size) = 0;
  // Starts every follower's forward pass of `batch`, which must stay
  // unchanged until wait() returns.
  virtual void launch(const tensor::StepBatch& batch) = 0;
  // Returns once every follower is done with the launched batch: OK, or
  // WorkerCrashed once any rank failed (the group is then broken for good).
  virtual core::Status wait() = 0;
  // Ends the group: every rank's pending and later collectives fail.
  virtual void abort(const core::Status& why) = 0;
};

// Rank 0's forward pass with the followers running the same batch (plain
// model.forward when `followers` is null). A rank 0 that fails aborts the
// group, so no follower waits for it in a collective.
core::Result<tensor::Tensor> forward_all_ranks(Model& model, StepFollowers* followers,
                                               const tensor::StepBatch& batch,
                                               tensor::KvStorage& kv);

}  // namespace mlxs::model
