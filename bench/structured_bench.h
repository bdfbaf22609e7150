#pragma once
// `bench structured`: what structured output costs a batched decode. The
// engine keeps B requests in flight (a closed loop: each one that ends is
// replaced by the next) over R requests in all, twice per repeat:
// - constrained: request i is held to MaskBench schema i (cycled), greedy,
//   ending where its grammar ends (or at the output length);
// - free: the same prompts with no constraint, each generating exactly as
//   many tokens as its constrained twin did, so both runs have the same
//   batches, prefills and lengths and differ only in the masks.
// A cold first pass (each schema's first requests, which fill its lazily
// built mask caches) is reported apart; the bound (issue 8: constrained
// decoding loses <= 3% tokens/s at batch 32 on the GPU, where masks are
// filled while the device runs the step) is checked on the warm passes.
// Each run also reports its host share: the part of the engine's step time
// not spent waiting for the step's logits (an upper bound on the time the
// device sits idle between steps, which an overlapped step loop would hide).

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "runtime/backend_choice.h"

namespace mlxs::bench {

struct StructuredBenchOptions {
  std::string model_dir;
  std::string tokenizer_dir;  // default: the model's folder
  std::string maskbench_dir;  // as for `bench grammar`
  int batch = 32;             // requests in flight
  int requests = 128;         // per run
  int prompt_len = 32;
  int output_len = 128;  // the most tokens a request may generate
  int repeats = 3;
  int threads = 0;
  std::size_t kv_memory_mb = 4096;
  runtime::BackendChoice backend;
  bool overlap = true;  // the engine's overlap mode (where the device allows it)
  bool progress = true;
};

core::Result<nlohmann::json> run_structured_bench(const StructuredBenchOptions& options);
std::string format_structured_table(const nlohmann::json& result);

}  // namespace mlxs::bench
