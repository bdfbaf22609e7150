#pragma once
// `bench worker`: what the process split costs. The same load (N streams of
// O greedy tokens each, same prompts, same model, same CPU threads) runs
// twice per repeat:
// - in-process: the engine set up exactly as the worker sets it up, stepped
//   directly, its streams read after every step;
// - worker: a child `mlx-serving runtime` over pipes, driven as the control
//   plane drives it (stream.step negotiated: one notification per engine
//   step), timed from the batch_generate request to the last stream's end.
// The bound: the worker should reach >= 99% of the in-process tokens/s.

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "runtime/backend_choice.h"

namespace mlxs::bench {

struct WorkerBenchOptions {
  std::string model_dir;
  int streams = 8;
  int output_len = 128;
  int prompt_len = 32;
  int repeats = 3;
  int threads = 0;                 // CPU threads, both ways (0: all)
  runtime::BackendChoice backend;  // the device, both ways
  std::string binary;              // the mlx-serving to start as the worker (default: this one)
  bool progress = true;
};

core::Result<nlohmann::json> run_worker_bench(const WorkerBenchOptions& options);
std::string format_worker_table(const nlohmann::json& result);

}  // namespace mlxs::bench
