#include "engine_bench.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>

#include <fmt/format.h>

#include "backend/cpu/cpu_backend.h"
#include "core/rng.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "machine.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
}

}  // namespace

core::Result<nlohmann::json> run_scheduler_bench(const SchedulerBenchOptions& o) {
  if (o.running <= 0 || o.steps <= 0 || o.prompt_len <= 0) {
    return core::Status(core::ErrorCode::kInvalidParams, "counts must be positive");
  }
  core::FakeClock clock;
  engine::SchedulerConfig cfg;
  cfg.max_seqs = o.running;
  cfg.max_batch_tokens = std::max(o.running, 2048);
  cfg.prefill_chunk = 2048;
  cfg.max_context = o.prompt_len + o.steps + 16;
  cfg.max_waiting[0] = cfg.max_waiting[1] = o.running * 2;
  const int blocks_per_seq = (cfg.max_context + o.block_size - 1) / o.block_size;
  engine::BlockPool pool(o.running * blocks_per_seq + 16, o.block_size);
  engine::Scheduler sched(cfg, pool, clock);
  core::Xoshiro256 rng(5);
  for (int i = 0; i < o.running; ++i) {
    engine::SeqSpec s;
    s.id = static_cast<engine::SeqId>(i + 1);
    s.priority = i % 4 == 0 ? engine::Priority::kInteractive : engine::Priority::kBatch;
    for (int t = 0; t < o.prompt_len; ++t)
      s.prompt.push_back(static_cast<std::int32_t>(rng.below(30000)));
    s.max_new_tokens = o.steps + 8;
    MLXS_RETURN_IF_ERROR(sched.add(std::move(s)));
  }
  std::vector<engine::StepOutcome> outcomes;
  outcomes.reserve(static_cast<std::size_t>(o.running));
  std::vector<double> step_us;
  int decoding_steps = 0;
  for (int step = 0; step < o.steps + 64 && decoding_steps < o.steps; ++step) {
    const auto t0 = Clock::now();
    const engine::StepPlan& plan = sched.schedule();
    outcomes.clear();
    bool all_decode = !plan.entries.empty();
    for (const auto& e : plan.entries) {
      all_decode &= e.count == 1;
      if (e.wants_logits)
        outcomes.push_back({e.id, static_cast<std::int32_t>((e.id * 31 + e.begin) % 30000),
                            engine::FinishReason::kNone});
    }
    MLXS_RETURN_IF_ERROR(sched.complete(outcomes));
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    clock.advance_ns(10'000'000);
    if (all_decode && static_cast<int>(plan.entries.size()) == o.running) {
      step_us.push_back(us);
      ++decoding_steps;
    }
  }
  return nlohmann::json{
      {"benchmark", "scheduler"},
      {"machine", describe_machine()},
      {"running_sequences", o.running},
      {"timed_steps", step_us.size()},
      {"step_us_p50", percentile(step_us, 0.5)},
      {"step_us_p99", percentile(step_us, 0.99)},
      {"step_us_mean", step_us.empty() ? 0.0
                                       : std::accumulate(step_us.begin(), step_us.end(), 0.0) /
                                             static_cast<double>(step_us.size())},
      {"what", "schedule() + complete() per decode step with every sequence running; fake runner"}};
}

std::string format_scheduler_table(const nlohmann::json& r) {
  return fmt::format(
      "scheduler overhead: {} running sequences, {} steps: p50 {:.1f} us, p99 {:.1f} us, mean "
      "{:.1f} us per step\n",
      r["running_sequences"].get<int>(), r["timed_steps"].get<std::size_t>(),
      r["step_us_p50"].get<double>(), r["step_us_p99"].get<double>(),
      r["step_us_mean"].get<double>());
}

core::Result<nlohmann::json> run_prefix_bench(const PrefixBenchOptions& o) {
  if (o.prompt_len <= 0 || o.repeats <= 0)
    return core::Status(core::ErrorCode::kInvalidParams, "lengths must be positive");
  auto pool = std::make_shared<backend::cpu::ThreadPool>(o.threads);
  backend::cpu::CpuBackend backend(pool);
  model::LoadOptions load;
  load.max_batch_tokens = 512;
  load.max_seqs = 4;
  load.max_logit_rows = 4;
  load.max_context = o.prompt_len + 16;
  MLXS_ASSIGN_OR_RETURN(auto model, model::Model::load(o.model_dir, backend, load));
  core::SteadyClock clock;
  core::Xoshiro256 rng(9);
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < o.prompt_len; ++i)
    prompt.push_back(
        static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(model->config().vocab))));
  nlohmann::json modes = nlohmann::json::array();
  double ttft_on = 0, ttft_off = 0, miss_on = 0, miss_off = 0;
  for (bool prefix : {false, true}) {
    engine::EngineConfig cfg;
    cfg.scheduler.max_batch_tokens = 512;
    cfg.scheduler.max_seqs = 4;
    cfg.scheduler.prefill_chunk = 512;
    cfg.scheduler.max_context = o.prompt_len + 16;
    cfg.prefix_caching = prefix;
    cfg.kv_blocks = 4 * ((o.prompt_len + 16 + 15) / 16);
    MLXS_ASSIGN_OR_RETURN(auto eng, engine::Engine::create(*model, nullptr, cfg, clock));
    auto ttft = [&](const std::vector<std::int32_t>& p) -> core::Result<double> {
      engine::GenerateRequest req;
      req.prompt = p;
      req.sampling.temperature = 0;
      req.stop.max_tokens = 1;
      req.stop.ignore_eos = true;
      const auto t0 = Clock::now();
      MLXS_ASSIGN_OR_RETURN(auto stream, eng->submit(req));
      while (!stream->done()) {
        MLXS_ASSIGN_OR_RETURN(bool worked, eng->step());
        (void)worked;
        stream->take();
      }
      return std::chrono::duration<double>(Clock::now() - t0).count();
    };
    std::vector<double> repeated, unique;
    for (int r = 0; r <= o.repeats; ++r) {  // the first run fills the cache
      MLXS_ASSIGN_OR_RETURN(double s, ttft(prompt));
      if (r > 0) repeated.push_back(s);
    }
    for (int r = 0; r < o.repeats; ++r) {  // nothing to reuse: the cost of looking
      std::vector<std::int32_t> fresh = prompt;
      fresh[0] = static_cast<std::int32_t>((fresh[0] + 1 + r + (prefix ? 1000 : 0)) %
                                           model->config().vocab);
      MLXS_ASSIGN_OR_RETURN(double s, ttft(fresh));
      unique.push_back(s);
    }
    const double med = percentile(repeated, 0.5);
    (prefix ? ttft_on : ttft_off) = med;
    (prefix ? miss_on : miss_off) = percentile(unique, 0.5);
    modes.push_back({{"prefix_caching", prefix},
                     {"ttft_s_median", med},
                     {"ttft_s", repeated},
                     {"unique_prompt_ttft_s_median", percentile(unique, 0.5)},
                     {"prefix_hits", eng->metrics().prefix_hits}});
  }
  return nlohmann::json{{"benchmark", "prefix"},
                        {"machine", describe_machine()},
                        {"backend", backend.describe()},
                        {"model", std::filesystem::path(o.model_dir).filename().string()},
                        {"prompt_len", o.prompt_len},
                        {"modes", modes},
                        {"speedup", ttft_on > 0 ? ttft_off / ttft_on : 0.0},
                        {"miss_overhead", miss_off > 0 ? miss_on / miss_off - 1.0 : 0.0}};
}

std::string format_prefix_table(const nlohmann::json& r) {
  std::string out = fmt::format("prefix reuse: {} ({}), repeated {}-token prompt\n",
                                r["model"].get<std::string>(), r["backend"].get<std::string>(),
                                r["prompt_len"].get<int>());
  for (const auto& m : r["modes"]) {
    out += fmt::format(
        "  prefix caching {:<3}  TTFT repeated prompt {:8.1f} ms, unique prompt {:8.1f} ms\n",
        m["prefix_caching"].get<bool>() ? "on" : "off", m["ttft_s_median"].get<double>() * 1e3,
        m["unique_prompt_ttft_s_median"].get<double>() * 1e3);
  }
  out += fmt::format("  speedup on a repeated prompt {:.1f}x; cost at a 0% hit rate {:+.1f}%\n",
                     r["speedup"].get<double>(), 100.0 * r["miss_overhead"].get<double>());
  return out;
}

}  // namespace mlxs::bench
