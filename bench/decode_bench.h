#pragma once
// `mlx-serving bench decode`: prefill and decode tokens/s of one model at
// several batch sizes, each compared with the memory-bandwidth bound. The read
// bandwidth of these machines changes between states over seconds, so every
// timed repeat is bracketed by its own probes and the fraction of the bound is
// computed per repeat (the median is reported).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "runtime/backend_choice.h"

namespace mlxs::bench {

struct DecodeBenchOptions {
  std::string model_dir;
  std::vector<int> batches{1, 8, 32};
  int prompt_len = 32;
  int decode_tokens = 64;  // timed steps per repeat
  int repeats = 3;         // each bracketed by bandwidth probes
  int warmup = 4;
  int threads = 0;              // 0: every CPU
  std::string backend = "cpu";  // "cpu" or "cuda"
  int device = 0;               // CUDA device
  std::size_t probe_bytes = std::size_t{512} << 20;
  bool progress = true;
  std::string quantization;      // LoadOptions::quantization
  bool int8_activations = true;  // CPU: the int8 path for 4/8-bit weights
  int int8_digits = 1;           // CPU: int8 digits per input element (1 or 2)
  // Ranks the model is split over (runtime::load_tensor_parallel); the bound
  // is then rank 0's: its shard's bytes over its device's bandwidth, every
  // rank reading its own shard at the same time.
  int tensor_parallel = 1;
  // Rows of one forward pass: the prefill of every prompt runs in chunks of
  // this many rows (0: 512 on the CPU, 2048 on CUDA, as the worker). Never
  // below the largest batch, whose decode step is one pass.
  int max_batch_tokens = 0;
  // The KV cache's element type (auto: the backend's, bf16 on CUDA); the
  // JSON records what the backend then keeps.
  runtime::KvCacheDtype kv_cache_dtype = runtime::KvCacheDtype::kAuto;
};

core::Result<nlohmann::json> run_decode_bench(const DecodeBenchOptions& options);

// The human table of a run_decode_bench result.
std::string format_decode_table(const nlohmann::json& result);

}  // namespace mlxs::bench
