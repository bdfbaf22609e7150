#pragma once
// `mlx-serving bench kernels`: the backend's decode-critical ops alone, on
// the shapes of real models: linear (GEMV) GB/s against the copy bound (bf16;
// on CUDA also FP8, 4- and 8-bit weights quantized as at load at one row); on
// CUDA also the GEMMs of one Llama-8B layer at 512 and 2,048 rows (TFLOP/s),
// finish_logits on 128k-token rows, greedy and drawn with each sampling
// filter (µs), and a 512-row decode step's paged attention on a bf16 and an
// e4m3 cache (attention_bench.h). Weights rotate over more bytes than
// the last-level cache holds, so the memory is what is timed.

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct KernelBenchOptions {
  std::string backend = "cuda";
  int device = 0;
  int threads = 0;
  int reps = 50;
};

core::Result<nlohmann::json> run_kernel_bench(const KernelBenchOptions& options);
std::string format_kernel_table(const nlohmann::json& result);

}  // namespace mlxs::bench
