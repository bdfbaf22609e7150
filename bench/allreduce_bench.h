#pragma once
// `mlx-serving bench allreduce`: tensor parallelism's per-layer collective
// alone, as a decode step makes it: the row-parallel output summed over the
// GPUs of this host and added to the residual stream with the next RMSNorm.
// Three ways, each 64 calls to a CUDA graph (a Llama-8B step's count):
// NCCL's all-reduce then the norm kernel, the peer exchange's all-reduce then
// the norm kernel, and the peer exchange's fused kernel. µs per call.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct AllReduceBenchOptions {
  int ranks = 2;
  int cols = 4096;
  std::vector<int> rows = {1, 8, 32, 64};
  int reps = 50;  // graph launches timed per (rows, way)
};

core::Result<nlohmann::json> run_allreduce_bench(const AllReduceBenchOptions& options);
std::string format_allreduce_table(const nlohmann::json& result);

}  // namespace mlxs::bench
