#pragma once
// `mlx-serving bench serve`: load against any OpenAI-compatible server.
// N streamed /v1/completions requests (random-word prompts of about
// input_len tokens, output_len tokens each) from `concurrency` clients,
// optionally arriving as a Poisson process of `request_rate` per second.
// Reports TTFT, TPOT (time per output token after the first), ITL (gaps
// between streamed chunks, per token) and end-to-end latency p50/p95/p99,
// output tokens/s and requests/s. Token counts come from the server's usage
// (stream_options.include_usage) when it sends one, else from chunk counts.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct ServeBenchOptions {
  std::string url = "http://127.0.0.1:8080";  // base; /v1/completions is appended
  std::string model;
  int concurrency = 8;
  int num_prompts = 64;
  int input_len = 128;
  int output_len = 128;
  double request_rate = 0;  // requests/s; 0: all at once (bounded by concurrency)
  bool ignore_eos = false;
  double temperature = 0;  // 0: greedy
  double top_p = 1;
  std::string api_key;
  std::uint64_t seed = 0;
  bool progress = true;
  int timeout_s = 600;  // per request
};

core::Result<nlohmann::json> run_serve_bench(const ServeBenchOptions& options);
std::string format_serve_table(const nlohmann::json& result);

}  // namespace mlxs::bench
