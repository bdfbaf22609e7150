#pragma once
// `mlx-serving bench vision`: the time to first token of one image request
// on a vision model (Gemma 3 / LLaVA at their fixed size, Qwen2-VL and
// Qwen2.5-VL on a square patch grid): the tower and projector on the image,
// then the prefill of a prompt holding its rows, to the first greedy token,
// one request at a time on an otherwise idle model.

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct VisionBenchOptions {
  std::string model_dir;
  int text_tokens = 32;  // prompt tokens besides the image's
  int repeats = 5;       // timed requests (after `warmup` untimed ones)
  int warmup = 2;
  int grid = 64;                // Qwen: patches per side (64: 896 px at patch 14, 4096 patches)
  int threads = 0;              // CPU backend: 0 for every CPU
  std::string backend = "cpu";  // "cpu" or "cuda"
  int device = 0;
  bool progress = true;
};

core::Result<nlohmann::json> run_vision_bench(const VisionBenchOptions& options);
std::string format_vision_table(const nlohmann::json& result);

}  // namespace mlxs::bench
