#pragma once
// `mlx-serving bench grammar`: MaskBench (../shared/fixtures/maskbench) with
// the Llama-3 tokenizer, one thread. For each schema: compile (timed), then
// for each test instance two passes, as the fixture's README describes:
// - verdict: the instance written compactly (serde_json), every token must
//   be allowed and the matcher must accept at the end; a valid instance that
//   fails is a validation error, an invalid one that passes an invalidation
//   error;
// - timing: the instance as Python's json.dumps writes it (", " and ": "),
//   one sample per token covering mask + commit, pooled over all schemas,
//   percentiles as maskbench_results.py computes them.
// The report compares with llguidance's published figures.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct GuidanceBenchOptions {
  std::string maskbench_dir;            // holds data/ (and llguidance-results.json)
  std::string tokenizer_dir;            // tokenizer.json of the Llama-3 family
  std::string whitespace = "flexible";  // the policy the grammars use
  std::size_t max_schemas = 0;          // 0: every file
  std::string filter;                   // only files whose name contains this
  bool timings = true;                  // the json.dumps pass
  bool per_schema = false;              // per-file verdicts in the result
  bool progress = true;
};

core::Result<nlohmann::json> run_guidance_bench(const GuidanceBenchOptions& options);

// `dir` may be the MaskBench folder itself or a fixtures folder holding
// maskbench/; empty means $MLXS_FIXTURES, else ../shared/fixtures.
std::filesystem::path maskbench_root(const std::string& dir);

// The human table of a run_guidance_bench result.
std::string format_guidance_table(const nlohmann::json& result);

}  // namespace mlxs::bench
