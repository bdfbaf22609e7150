#pragma once
// `bench image`: images per second on one core for decoding a generated
// 1024x1024 PNG and JPEG and preprocessing it for each processor family, with
// the processors configured as the published models ship them (LLaVA-1.5's
// CLIP at 336, Qwen2.5-VL's smart resize, Gemma 3's SigLIP at 896).

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct ImageBenchOptions {
  int size = 1024;       // side of the generated square image
  int iterations = 20;   // timed runs per row (after one untimed warm-up)
  std::string save_dir;  // when set, the PNG and JPEG are written here (for a PIL comparison)
};

core::Result<nlohmann::json> run_image_bench(const ImageBenchOptions& options);
std::string format_image_table(const nlohmann::json& result);

}  // namespace mlxs::bench
