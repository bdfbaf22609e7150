#include "decode_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "backend/cpu/cpu_backend.h"
#include "bandwidth.h"
#include "core/rng.h"
#include "machine.h"
#include "model/model.h"
#include "model/runner.h"
#include "progress.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::int32_t argmax(const float* row, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return static_cast<std::int32_t>(best);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

core::Result<nlohmann::json> run_decode_bench(const DecodeBenchOptions& o) {
  if (o.batches.empty() || o.prompt_len <= 0 || o.decode_tokens <= 0 || o.warmup < 0) {
    return core::Status(core::ErrorCode::kInvalidParams, "batch sizes and lengths must be positive");
  }
  for (int b : o.batches) {
    if (b <= 0 || b > 4096) return core::Status(core::ErrorCode::kInvalidParams, "batch sizes must be in [1, 4096]");
  }
  const int threads = o.threads > 0 ? o.threads : backend::cpu::ThreadPool::available_cpus();
  const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  const int context = o.prompt_len + o.warmup + o.decode_tokens + 1;

  Progress progress(o.progress);
  progress.note("probing read bandwidth");
  const BandwidthResult bw_before = probe_read_bandwidth(threads, o.probe_bytes);

  auto pool = std::make_shared<backend::cpu::ThreadPool>(threads);
  backend::cpu::CpuBackend backend(pool);
  model::LoadOptions load;
  load.max_batch_tokens = std::max(512, max_batch);
  load.max_seqs = max_batch;
  load.max_logit_rows = max_batch;
  load.max_context = context;
  progress.note("loading model");
  const auto t_load = Clock::now();
  MLXS_ASSIGN_OR_RETURN(auto model, model::Model::load(o.model_dir, backend, load));
  const double load_s = seconds_since(t_load);
  MLXS_ASSIGN_OR_RETURN(auto runner, model::Runner::create(*model, max_batch * context));
  const auto& cfg = model->config();
  const std::int64_t vocab = cfg.vocab;
  const double weight_bytes = static_cast<double>(model->weight_bytes_per_token());
  // K and V of every layer, f32, per cached position.
  const double kv_bytes_per_pos = static_cast<double>(cfg.layers * 2 * cfg.kv_heads * cfg.head_dim) * 4.0;

  nlohmann::json runs = nlohmann::json::array();
  core::Xoshiro256 rng(1234);
  for (int B : o.batches) {
    std::vector<int> seqs;
    std::vector<std::vector<std::int32_t>> prompts(static_cast<std::size_t>(B));
    std::vector<model::SeqFeed> feeds;
    for (int b = 0; b < B; ++b) {
      seqs.push_back(runner->add_sequence());
      for (int i = 0; i < o.prompt_len; ++i) {
        prompts[static_cast<std::size_t>(b)].push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab))));
      }
    }
    for (int b = 0; b < B; ++b) feeds.push_back({seqs[static_cast<std::size_t>(b)], prompts[static_cast<std::size_t>(b)], false});
    progress.note(fmt::format("batch {}: prefill", B));
    const auto t_prefill = Clock::now();
    MLXS_ASSIGN_OR_RETURN(auto logits, runner->step(feeds));
    const double prefill_s = seconds_since(t_prefill);

    std::vector<std::int32_t> next(static_cast<std::size_t>(B));
    std::vector<double> step_s;
    const int total_steps = o.warmup + o.decode_tokens;
    double decode_s = 0;
    for (int step = 0; step < total_steps; ++step) {
      for (int b = 0; b < B; ++b) {
        next[static_cast<std::size_t>(b)] = argmax(logits.data() + static_cast<std::size_t>(b) * static_cast<std::size_t>(vocab), vocab);
      }
      feeds.clear();
      for (int b = 0; b < B; ++b) {
        feeds.push_back({seqs[static_cast<std::size_t>(b)], std::span<const std::int32_t>(&next[static_cast<std::size_t>(b)], 1), false});
      }
      const auto t_step = Clock::now();
      MLXS_ASSIGN_OR_RETURN(logits, runner->step(feeds));
      const double dt = seconds_since(t_step);
      if (step >= o.warmup) {
        step_s.push_back(dt);
        decode_s += dt;
      }
      progress.update(fmt::format("batch {}: decode", B), step + 1, total_steps);
    }
    for (int s : seqs) runner->remove_sequence(s);

    const double mean_pos = o.prompt_len + o.warmup + o.decode_tokens / 2.0;
    const double step_bytes = weight_bytes + B * mean_pos * kv_bytes_per_pos;
    const double decode_tok_s = B * o.decode_tokens / decode_s;
    const double median_step = percentile(step_s, 0.5);
    runs.push_back({{"batch", B},
                    {"prefill_tokens", B * o.prompt_len},
                    {"prefill_tok_s", B * o.prompt_len / prefill_s},
                    {"decode_tok_s", decode_tok_s},
                    {"decode_tok_s_at_median_step", B / median_step},
                    {"step_ms_p50", median_step * 1e3},
                    {"step_ms_p90", percentile(step_s, 0.9) * 1e3},
                    {"bytes_per_step", step_bytes},
                    {"effective_gbps", decode_tok_s / B * step_bytes / 1e9}});
  }
  progress.note("probing read bandwidth");
  const BandwidthResult bw_after = probe_read_bandwidth(threads, o.probe_bytes);
  const double bw = (bw_before.gbps_median + bw_after.gbps_median) / 2.0 * 1e9;
  for (auto& r : runs) {
    const double bound = r["batch"].get<int>() * bw / r["bytes_per_step"].get<double>();
    r["bound_tok_s"] = bound;
    r["fraction_of_bound"] = r["decode_tok_s"].get<double>() / bound;
    r["fraction_of_bound_at_median_step"] = r["decode_tok_s_at_median_step"].get<double>() / bound;
  }
  progress.done();
  return nlohmann::json{
      {"benchmark", "decode"},
      {"machine", describe_machine()},
      {"backend", backend.describe()},
      {"threads", threads},
      {"model", {{"dir_name", std::filesystem::path(o.model_dir).filename().string()},
                 {"model_type", cfg.model_type},
                 {"dtype", std::string(tensor::dtype_torch_name(cfg.dtype))},
                 {"parameters", model->parameter_count()},
                 {"weight_bytes_per_token", weight_bytes},
                 {"kv_bytes_per_position", kv_bytes_per_pos},
                 {"load_s", load_s}}},
      {"settings", {{"prompt_len", o.prompt_len}, {"decode_tokens", o.decode_tokens},
                    {"warmup", o.warmup}, {"sampling", "greedy"}}},
      {"bandwidth", {{"before", bw_before.to_json()}, {"after", bw_after.to_json()},
                     {"gbps_used", bw / 1e9},
                     {"definition", "median GB/s of a pinned streaming read, mean of the probes before and after"}}},
      {"bound", "batch x bandwidth / (weight bytes per step + batch x KV bytes at the mean position)"},
      {"runs", runs}};
}

std::string format_decode_table(const nlohmann::json& r) {
  std::string out = fmt::format(
      "decode benchmark: {} ({}, {}), {} threads, read bandwidth {:.1f} GB/s (before {:.1f}, after {:.1f})\n",
      r["model"]["dir_name"].get<std::string>(), r["model"]["model_type"].get<std::string>(),
      r["model"]["dtype"].get<std::string>(), r["threads"].get<int>(),
      r["bandwidth"]["gbps_used"].get<double>(),
      r["bandwidth"]["before"]["gbps_median"].get<double>(),
      r["bandwidth"]["after"]["gbps_median"].get<double>());
  out += fmt::format("{:>6} {:>12} {:>12} {:>14} {:>10} {:>12} {:>10} {:>10}\n", "batch",
                     "prefill t/s", "decode t/s", "t/s @med step", "step p50", "bound t/s",
                     "of bound", "@med step");
  for (const auto& run : r["runs"]) {
    out += fmt::format("{:>6} {:>12.1f} {:>12.2f} {:>14.2f} {:>8.1f}ms {:>12.2f} {:>9.1f}% {:>9.1f}%\n",
                       run["batch"].get<int>(), run["prefill_tok_s"].get<double>(),
                       run["decode_tok_s"].get<double>(),
                       run["decode_tok_s_at_median_step"].get<double>(),
                       run["step_ms_p50"].get<double>(), run["bound_tok_s"].get<double>(),
                       100.0 * run["fraction_of_bound"].get<double>(),
                       100.0 * run["fraction_of_bound_at_median_step"].get<double>());
  }
  return out;
}

}  // namespace mlxs::bench
