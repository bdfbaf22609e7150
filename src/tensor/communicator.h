#pragma once
// The collectives a tensor-parallel model needs (Megatron-style: each rank
// holds a slice of every large matrix and the partial results meet in an
// all-reduce), behind one interface so the decoder is written once whatever
// carries the bytes: threads of one process sharing memory (CPU, tests) or
// NCCL between GPUs. Every call is collective: each rank of the group makes
// the same calls in the same order with tensors of the same shape. Calls are
// ordered with the rank's backend (on a GPU: queued on its stream), allocate
// nothing, and report a broken group as a Status instead of hanging.

#include "core/status.h"
#include "tensor/tensor.h"

namespace mlxs::tensor {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // x = the sum over ranks of x (f32, in place). Every rank ends with the same
  // bits, so replicated state (the residual stream) never drifts apart.
  virtual core::Status all_reduce_sum(Tensor x) = 0;
  // Vocab-parallel logits: `local` is [rows, cols] f32 on every rank and
  // `out` [rows, world_size * cols]; out[r, k * cols + j] = local of rank k
  // [r, j] (the ranks' column blocks side by side, in rank order).
  virtual core::Status all_gather_columns(const Tensor& local, Tensor out) = 0;
  // x = rank 0's x on every rank (i32, in place): the ids rank 0 sampled, for
  // the followers to resolve a step's placeholder tokens with (the engine's
  // overlap mode; Backend::share_sampled_ids).
  virtual core::Status broadcast_from_first(Tensor x) = 0;
  // Returns once every rank has called it (and, on a device, once the work
  // queued before it has finished).
  virtual core::Status barrier() = 0;
  // Ends the group: every rank's pending and later collectives return
  // WorkerCrashed. For a rank that failed where the others cannot see it, so
  // they stop instead of waiting for it forever (the group fails as one).
  virtual void abort() = 0;
};

}  // namespace mlxs::tensor
