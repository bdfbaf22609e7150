#pragma once
// `bench sampler`: the host sampler's time per logit row, by sampling mode,
// on rows shaped like a trained model's (peaked: a few tokens hold most of
// the mass) and like a random-weight model's (flat: the worst case for
// top_p, whose nucleus then spans most of the vocabulary).

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct SamplerBenchOptions {
  int vocab = 128256;
  int rows = 200;  // timed rows per mode and shape
};

core::Result<nlohmann::json> run_sampler_bench(const SamplerBenchOptions& options);
std::string format_sampler_table(const nlohmann::json& result);

}  // namespace mlxs::bench
