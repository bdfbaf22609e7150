#include "decode_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <numeric>

#include <fmt/format.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/thread_pool.h"
#ifdef MLXS_HAVE_CUDA
#include "backend/cuda/copy_bandwidth.h"
#endif
#include "bandwidth.h"
#include "core/progress.h"
#include "core/rng.h"
#include "machine.h"
#include "model/model.h"
#include "model/runner.h"
#include "runtime/backend_choice.h"
#include "runtime/engine_setup.h"
#include "runtime/tensor_parallel.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

core::Result<nlohmann::json> run_decode_bench(const DecodeBenchOptions& o) {
  if (o.batches.empty() || o.prompt_len <= 0 || o.decode_tokens <= 0 || o.warmup < 0 ||
      o.repeats <= 0) {
    return core::Status(core::ErrorCode::kInvalidParams,
                        "batch sizes, lengths and repeats must be positive");
  }
  MLXS_RETURN_IF_ERROR(runtime::check_max_batch_tokens(o.max_batch_tokens));
  for (int b : o.batches) {
    if (b <= 0 || b > 4096)
      return core::Status(core::ErrorCode::kInvalidParams, "batch sizes must be in [1, 4096]");
  }
  const int threads = o.threads > 0 ? o.threads : backend::cpu::ThreadPool::available_cpus();
  const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  const int context = o.prompt_len + o.warmup + o.repeats * o.decode_tokens + 1;

  core::Progress progress(o.progress);
  // The bound: a CPU streaming read at the decode's thread count, or a GPU
  // device-to-device copy (bytes read + written).
  // The backend as the worker makes it (one place for both devices).
  runtime::BackendChoice choice;
  choice.kind = o.backend;
  choice.device = o.device;
  choice.int8_activations = o.int8_activations;
  choice.kv_cache_dtype = o.kv_cache_dtype;
  MLXS_RETURN_IF_ERROR(runtime::check_backend_choice(choice));
  MLXS_RETURN_IF_ERROR(runtime::check_tensor_parallel(
      choice, o.tensor_parallel, o.backend == "cuda" ? runtime::cuda_device_count() : 0));
  // Tensor parallelism: the other ranks (declared first: they go last).
  std::unique_ptr<engine::TensorParallelGroup> group;
  std::unique_ptr<tensor::Backend> be;
  if (o.tensor_parallel == 1) {
    MLXS_ASSIGN_OR_RETURN(
        be, runtime::make_backend(choice, std::make_shared<backend::cpu::ThreadPool>(threads)));
  }
  if (auto* cpu = dynamic_cast<backend::cpu::CpuBackend*>(be.get())) {
    cpu->set_int8_digits(o.int8_digits);
  }
  std::unique_ptr<BandwidthProbe> cpu_probe;
  std::function<BandwidthResult(int)> probe;
  std::string bound_definition;
  if (o.backend == "cpu") {
    progress.note("allocating the bandwidth probe");
    cpu_probe = std::make_unique<BandwidthProbe>(threads, o.probe_bytes);
    probe = [&](int reps) { return cpu_probe->measure(reps); };
    bound_definition =
        "median GB/s (1e9 B/s) of a pinned streaming read with 8 vector accumulators per "
        "thread, at the decode's thread count";
  } else {
#ifdef MLXS_HAVE_CUDA
    probe = [&](int reps) {
      BandwidthResult r;
      auto bw = backend::cuda::measure_copy_bandwidth(
          o.device, std::max<std::size_t>(o.probe_bytes, 1u << 30), reps * 3);
      if (bw) {
        r.gbps_median = bw->gbps_median;
        r.gbps_best = bw->gbps_best;
        r.samples = bw->samples;
        r.bytes = std::max<std::size_t>(o.probe_bytes, 1u << 30);
      }
      return r;
    };
    bound_definition =
        "median GB/s (1e9 B/s) of a device-to-device copy, counting bytes read plus written";
#endif
  }
  const BandwidthResult bw_start = probe(5);

  model::LoadOptions load;
  load.max_batch_tokens =
      runtime::resolve_max_batch_tokens(o.max_batch_tokens, o.backend, max_batch);
  load.max_seqs = max_batch;
  load.max_logit_rows = max_batch;
  load.max_context = context;
  load.quantization = o.quantization;
  progress.note("loading model");
  const auto t_load = Clock::now();
  std::unique_ptr<model::Model> model;
  if (o.tensor_parallel == 1) {
    MLXS_ASSIGN_OR_RETURN(model, model::Model::load(o.model_dir, *be, load));
  } else {
    MLXS_ASSIGN_OR_RETURN(auto tp, runtime::load_tensor_parallel(o.model_dir, choice,
                                                                 o.tensor_parallel, threads, load));
    group = std::move(tp.group);
    be = std::move(tp.rank0.backend);
    model = std::move(tp.rank0.model);
  }
  const double load_s = seconds_since(t_load);
  MLXS_ASSIGN_OR_RETURN(auto runner,
                        model::Runner::create(*model, max_batch, context, 16, group.get()));
  const auto& cfg = model->config();
  const std::int64_t vocab = cfg.vocab;
  const double weight_bytes = static_cast<double>(model->weight_bytes_per_token());
  // K and V of every layer per cached position, in the cache's element type
  // (bf16 on the CUDA serving path, f32 elsewhere).
  const double kv_bytes_per_pos = static_cast<double>(model->kv_shape(1, 1).bytes());

  nlohmann::json runs = nlohmann::json::array();
  core::Xoshiro256 rng(1234);
  for (int B : o.batches) {
    const auto nb = static_cast<std::size_t>(B);
    std::vector<int> seqs;
    std::vector<std::vector<std::int32_t>> prompts(nb);
    std::vector<model::SeqFeed> feeds;
    for (std::size_t b = 0; b < nb; ++b) {
      seqs.push_back(runner->add_sequence());
      for (int i = 0; i < o.prompt_len; ++i) {
        prompts[b].push_back(
            static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab))));
      }
      feeds.push_back({seqs.back(), prompts[b], false});
    }
    progress.note(fmt::format("batch {}: prefill {} x {} tokens", B, B, o.prompt_len));
    const auto t_prefill = Clock::now();
    // Greedy: each step's rows come back as token ids, as in serving.
    MLXS_ASSIGN_OR_RETURN(auto ids, runner->step_greedy(feeds));
    const double prefill_s = seconds_since(t_prefill);

    std::vector<std::int32_t> next(nb);
    auto decode_step = [&]() -> core::Result<double> {
      std::copy(ids.begin(), ids.end(), next.begin());
      feeds.clear();
      for (std::size_t b = 0; b < nb; ++b) {
        feeds.push_back({seqs[b], std::span<const std::int32_t>(&next[b], 1), false});
      }
      const auto t_step = Clock::now();
      MLXS_ASSIGN_OR_RETURN(ids, runner->step_greedy(feeds));
      return seconds_since(t_step);
    };
    for (int w = 0; w < o.warmup; ++w) {
      MLXS_ASSIGN_OR_RETURN(double unused, decode_step());
      (void)unused;
    }
    nlohmann::json reps = nlohmann::json::array();
    std::vector<double> tok_s, tok_s_med, fractions, fractions_med, all_steps;
    const tensor::Backend::DeviceTimeline timeline_before = be->device_timeline();
    for (int r = 0; r < o.repeats; ++r) {
      const BandwidthResult before = probe(3);
      std::vector<double> step_s;
      double total = 0;
      for (int step = 0; step < o.decode_tokens; ++step) {
        MLXS_ASSIGN_OR_RETURN(double dt, decode_step());
        step_s.push_back(dt);
        total += dt;
        progress.update(fmt::format("batch {}: repeat {}/{}", B, r + 1, o.repeats), step + 1,
                        o.decode_tokens);
      }
      const BandwidthResult after = probe(3);
      const double bw = (before.gbps_median + after.gbps_median) / 2.0 * 1e9;
      const double mean_pos = o.prompt_len + o.warmup + r * o.decode_tokens + o.decode_tokens / 2.0;
      const double step_bytes = weight_bytes + B * mean_pos * kv_bytes_per_pos;
      const double bound = B * bw / step_bytes;
      const double rate = B * o.decode_tokens / total;
      const double rate_med = B / percentile(step_s, 0.5);
      tok_s.push_back(rate);
      tok_s_med.push_back(rate_med);
      fractions.push_back(rate / bound);
      fractions_med.push_back(rate_med / bound);
      all_steps.insert(all_steps.end(), step_s.begin(), step_s.end());
      reps.push_back({{"decode_tok_s", rate},
                      {"decode_tok_s_at_median_step", rate_med},
                      {"bandwidth_gbps_before", before.gbps_median},
                      {"bandwidth_gbps_after", after.gbps_median},
                      {"bytes_per_step", step_bytes},
                      {"bound_tok_s", bound},
                      {"fraction_of_bound", rate / bound},
                      {"fraction_of_bound_at_median_step", rate_med / bound}});
    }
    // The device's idle share of the timed steps: one minus its busy time
    // (CUDA events from a step's first work to its logits) over the steps'
    // wall time. The bandwidth probes between repeats are left out: they
    // lie outside every step. Steps here are not overlapped (each is read
    // before the next is queued), so this is the host's part of a step that
    // the engine's overlap mode hides.
    const tensor::Backend::DeviceTimeline timeline = be->device_timeline();
    const double busy_ms = timeline.busy_ms - timeline_before.busy_ms;
    const double total_s = std::accumulate(all_steps.begin(), all_steps.end(), 0.0);
    for (int s : seqs) runner->remove_sequence(s);
    runs.push_back(
        {{"batch", B},
         {"prefill_tokens", B * o.prompt_len},
         {"prefill_tok_s", B * o.prompt_len / prefill_s},
         {"decode_tok_s", percentile(tok_s, 0.5)},
         {"decode_tok_s_at_median_step", percentile(tok_s_med, 0.5)},
         {"step_ms_p50", percentile(all_steps, 0.5) * 1e3},
         {"step_ms_p90", percentile(all_steps, 0.9) * 1e3},
         {"bound_tok_s", percentile(tok_s, 0.5) / percentile(fractions, 0.5)},
         {"fraction_of_bound", percentile(fractions, 0.5)},
         {"fraction_of_bound_min", *std::min_element(fractions.begin(), fractions.end())},
         {"fraction_of_bound_max", *std::max_element(fractions.begin(), fractions.end())},
         {"fraction_of_bound_at_median_step", percentile(fractions_med, 0.5)},
         {"device_busy_ms", busy_ms},
         {"device_idle_pct", timeline.steps > timeline_before.steps
                                 ? 100.0 * (1.0 - busy_ms / (total_s * 1e3))
                                 : -1.0},
         {"repeats", reps}});
  }
  const BandwidthResult bw_end = probe(5);
  progress.done();
  return nlohmann::json{
      {"benchmark", "decode"},
      {"machine", describe_machine()},
      {"backend", be->describe()},
      {"threads", o.backend == "cpu" ? threads : 0},
      {"tensor_parallel", o.tensor_parallel},
      {"model",
       {{"dir_name", std::filesystem::path(o.model_dir).filename().string()},
        {"model_type", cfg.model_type},
        {"dtype", std::string(tensor::dtype_torch_name(cfg.dtype))},
        {"quantization",
         cfg.quant.quantized()
             ? fmt::format(
                   "{} {}-bit", model::quant_method_name(cfg.quant.method),
                   cfg.quant.method == model::QuantMethod::kMlxAffine ? cfg.quant.affine.bits : 8)
             : (o.quantization.empty() ? "none" : o.quantization + " at load")},
        {"int8_activations", o.backend == "cpu" && o.int8_activations},
        {"int8_digits", o.int8_digits},
        {"parameters", model->parameter_count()},
        {"weight_bytes_per_token", weight_bytes},
        {"kv_bytes_per_position", kv_bytes_per_pos},
        {"load_s", load_s}}},
      {"settings",
       {{"prompt_len", o.prompt_len},
        {"decode_tokens_per_repeat", o.decode_tokens},
        // The prefill's chunk, as resolved (auto or raised to the batch).
        {"max_batch_tokens", model->options().max_batch_tokens},
        // The cache's type as the backend keeps it (auto resolved, exact_f32
        // and the MLXS_CUDA_KV_* overrides applied), and as it was asked.
        {"kv_cache_dtype", std::string(runtime::kv_cache_dtype_name(be->kv_dtype()))},
        {"kv_cache_dtype_requested", std::string(runtime::kv_cache_dtype_name(o.kv_cache_dtype))},
        {"repeats", o.repeats},
        {"warmup", o.warmup},
        {"sampling", "greedy"},
        {"probe_bytes", o.probe_bytes}}},
      {"bandwidth",
       {{"start", bw_start.to_json()},
        {"end", bw_end.to_json()},
        {"definition", bound_definition}}},
      {"bound",
       "per repeat: batch x mean(probe before, probe after) / (weight bytes per step + "
       "batch x f32 KV bytes at the repeat's mean position); median over repeats"},
      {"runs", runs}};
}

std::string format_decode_table(const nlohmann::json& r) {
  std::string out = fmt::format(
      "decode benchmark: {} ({}, {}, quantization {}) on {}{}; bound bandwidth {:.1f} GB/s at "
      "start, {:.1f} at end (each repeat has its own probes)\n",
      r["model"]["dir_name"].get<std::string>(), r["model"]["model_type"].get<std::string>(),
      r["model"]["dtype"].get<std::string>(), r["model"].value("quantization", std::string("none")),
      r["backend"].get<std::string>(),
      r.value("tensor_parallel", 1) > 1
          ? fmt::format(" x {} ranks (bound per rank)", r.value("tensor_parallel", 1))
          : std::string(),
      r["bandwidth"]["start"]["gbps_median"].get<double>(),
      r["bandwidth"]["end"]["gbps_median"].get<double>());
  out += fmt::format("{:>6} {:>12} {:>12} {:>14} {:>10} {:>12} {:>10} {:>10} {:>9}\n", "batch",
                     "prefill t/s", "decode t/s", "t/s @med step", "step p50", "bound t/s",
                     "of bound", "@med step", "dev idle");
  for (const auto& run : r["runs"]) {
    const double idle = run.value("device_idle_pct", -1.0);
    out += fmt::format(
        "{:>6} {:>12.1f} {:>12.2f} {:>14.2f} {:>8.1f}ms {:>12.2f} {:>9.1f}% {:>9.1f}% {:>9}\n",
        run["batch"].get<int>(), run["prefill_tok_s"].get<double>(),
        run["decode_tok_s"].get<double>(), run["decode_tok_s_at_median_step"].get<double>(),
        run["step_ms_p50"].get<double>(), run["bound_tok_s"].get<double>(),
        100.0 * run["fraction_of_bound"].get<double>(),
        100.0 * run["fraction_of_bound_at_median_step"].get<double>(),
        idle < 0 ? std::string("-") : fmt::format("{:.1f}%", idle));
  }
  return out;
}

}  // namespace mlxs::bench
