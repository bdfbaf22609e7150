#pragma once
// How a worker (and generate, bench decode) serves one model over N
// tensor-parallel ranks (docs/tensor-parallel.md): the checks made before
// anything loads, and the ranks themselves — on the CPU N threads of one
// InProcessGroup, each with its own CpuBackend and its share of the CPU
// threads; on CUDA N threads bound to consecutive devices from the worker's
// own, joined over NCCL on each backend's stream. The group runs as one
// engine (engine::TensorParallelGroup): rank 0 is the model the engine sees.

#include <memory>
#include <string>

#include "core/status.h"
#include "engine/tp_group.h"
#include "model/model.h"
#include "runtime/backend_choice.h"

namespace mlxs::runtime {

// The most ranks one model may be split over.
inline constexpr int kMaxTensorParallel = 64;

// CUDA devices this process sees (0 in a build without CUDA, or none).
int cuda_device_count();

// Before anything loads: InvalidParams for N < 1 or N > kMaxTensorParallel,
// and on CUDA for ranks past the last device (`devices` of them, counted
// from the worker's own device); Unsupported for N > 1 on CUDA in a build
// without NCCL. N not dividing the heads is ShardPlan's ModelLoadError, at
// load.
core::Status check_tensor_parallel(const BackendChoice& backend, int ranks, int devices);

// CPU threads each rank's pool gets: `threads` (0: one per CPU) shared out,
// at least one each.
int threads_per_rank(int threads, int ranks);

struct TensorParallelModel {
  engine::RankParts rank0;  // the engine's model and backend
  std::unique_ptr<engine::TensorParallelGroup> group;
};

// Loads `dir` over `ranks` ranks with `load` (its progress callback is
// rank 0's alone). Errors: check_tensor_parallel's, ShardPlan's
// ModelLoadError naming the count N does not divide, and any rank's load
// error ("tensor-parallel rank 1: ...").
core::Result<TensorParallelModel> load_tensor_parallel(const std::string& dir,
                                                       const BackendChoice& backend, int ranks,
                                                       int threads, const model::LoadOptions& load);

}  // namespace mlxs::runtime
