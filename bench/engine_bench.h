#pragma once
// Engine benchmarks:
// - `bench scheduler`: the scheduler's own cost per step (schedule + complete)
//   with N running sequences and a fake model runner, so only bookkeeping is
//   timed.
// - `bench prefix`: time to first token of a repeated long prompt with prefix
//   reuse on and off, on a real (small) model on the CPU.

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct SchedulerBenchOptions {
  int running = 256;
  int steps = 2000;
  int prompt_len = 128;
  int block_size = 16;
};
core::Result<nlohmann::json> run_scheduler_bench(const SchedulerBenchOptions& options);
std::string format_scheduler_table(const nlohmann::json& result);

struct PrefixBenchOptions {
  std::string model_dir;
  int prompt_len = 2048;
  int repeats = 3;
  int threads = 0;
};
core::Result<nlohmann::json> run_prefix_bench(const PrefixBenchOptions& options);
std::string format_prefix_table(const nlohmann::json& result);

}  // namespace mlxs::bench
