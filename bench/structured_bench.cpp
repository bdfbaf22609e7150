#include "structured_bench.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "backend/cpu/thread_pool.h"
#include "core/json_util.h"
#include "core/progress.h"
#include "core/rng.h"
#include "engine/engine.h"
#include "engine_rig.h"
#include "guidance_bench.h"
#include "machine.h"
#include "model/model.h"
#include "runtime/engine_setup.h"
#include "runtime/guidance_hook.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using core::ErrorCode;
using core::Status;
using nlohmann::json;

struct Run {
  double seconds = 0;
  std::uint64_t tokens = 0;  // sampled, end-of-sequence tokens included
  std::uint64_t steps = 0;
  double host_share = 0;     // of the step time, not spent waiting for the logits
  std::vector<int> sampled;  // per request
  double tokens_per_second() const {
    return seconds > 0 ? static_cast<double>(tokens) / seconds : 0;
  }
};

json run_json(const Run& r) {
  return json{{"seconds", r.seconds},
              {"tokens", r.tokens},
              {"steps", r.steps},
              {"tokens_per_second", r.tokens_per_second()},
              {"host_share", r.host_share}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Schemas {
  std::vector<std::shared_ptr<const engine::Constraint>> constraints;
  std::vector<std::string> names;
  std::size_t refused = 0;
};

// Every MaskBench schema our compiler takes, compiled once for the
// tokenizer (untimed: compilation is off the step loop in serving too).
core::Result<Schemas> compile_schemas(const std::string& dir, const tokenizer::Tokenizer& tok,
                                      std::size_t wanted) {
  const fs::path data = maskbench_root(dir) / "data";
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(data, ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  if (ec || files.empty()) {
    return core::make_error(ErrorCode::kNotFound, "no MaskBench schemas under {}", data.string());
  }
  std::sort(files.begin(), files.end());
  Schemas out;
  for (const auto& f : files) {
    if (out.constraints.size() >= wanted) break;
    std::ifstream in(f);
    std::stringstream buf;
    buf << in.rdbuf();
    const core::Json doc = core::Json::parse(buf.str(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("schema")) {
      ++out.refused;
      continue;
    }
    protocol::GuidanceParams g;
    g.mode = "json_schema";
    g.schema = doc["schema"];
    auto plan = runtime::prepare_guidance(g, tok, "bench");
    if (!plan.is_ok()) {
      ++out.refused;
      continue;
    }
    out.constraints.push_back(plan->constraint);
    out.names.push_back(f.filename().string());
  }
  if (out.constraints.empty()) {
    return Status(ErrorCode::kGuidanceError, "no MaskBench schema compiled");
  }
  return out;
}

class Rig {
 public:
  static core::Result<std::unique_ptr<Rig>> open(const StructuredBenchOptions& o) {
    auto self = std::unique_ptr<Rig>(new Rig());
    runtime::RuntimeOptions opts;
    opts.threads = o.threads;
    opts.backend = o.backend;
    opts.kv_memory_bytes = o.kv_memory_mb << 20;
    opts.engine_overlap = o.overlap;
    opts.max_running_streams = std::max(opts.max_running_streams, o.batch);
    MLXS_ASSIGN_OR_RETURN(self->rig_, EngineRig::open(o.model_dir, opts, o.tokenizer_dir, true));
    return self;
  }

  const tokenizer::Tokenizer& tokenizer() const { return *rig_->tokenizer; }
  std::int64_t vocab() const { return rig_->model->config().vocab; }
  std::string backend() const { return rig_->backend->describe(); }

  // Keeps `batch` requests in flight until all of `requests` have ended.
  // make(i) builds request i.
  template <class Make>
  core::Result<Run> closed_loop(int batch, int requests, Make make) {
    Run r;
    r.sampled.assign(static_cast<std::size_t>(requests), 0);
    struct Open {
      int index;
      std::shared_ptr<engine::Stream> stream;
    };
    std::vector<Open> open;
    int next = 0;
    const auto before = rig_->engine->metrics();
    const auto t0 = Clock::now();
    auto submit_next = [&]() -> Status {
      MLXS_ASSIGN_OR_RETURN(auto s, rig_->engine->submit(make(next)));
      open.push_back({next++, std::move(s)});
      return Status::ok();
    };
    while (next < requests && static_cast<int>(open.size()) < batch) {
      MLXS_RETURN_IF_ERROR(submit_next());
    }
    while (!open.empty()) {
      MLXS_RETURN_IF_ERROR(rig_->engine->step().status());
      for (std::size_t k = 0; k < open.size();) {
        (void)open[k].stream->take();
        if (auto e = open[k].stream->error()) return *e;
        if (!open[k].stream->done()) {
          ++k;
          continue;
        }
        r.sampled[static_cast<std::size_t>(open[k].index)] =
            open[k].stream->usage().completion_tokens;
        open.erase(open.begin() + static_cast<std::ptrdiff_t>(k));
        if (next < requests) MLXS_RETURN_IF_ERROR(submit_next());
      }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto after = rig_->engine->metrics();
    r.tokens = after.generated_tokens - before.generated_tokens;
    r.steps = after.steps - before.steps;
    const auto step_ns = after.step_ns - before.step_ns;
    const auto wait_ns = after.device_wait_ns - before.device_wait_ns;
    r.host_share =
        step_ns > 0 ? 1.0 - static_cast<double>(wait_ns) / static_cast<double>(step_ns) : 0.0;
    return r;
  }

 private:
  Rig() = default;
  std::unique_ptr<EngineRig> rig_;
};

}  // namespace

core::Result<json> run_structured_bench(const StructuredBenchOptions& o) {
  if (o.batch < 1 || o.batch > 256 || o.requests < o.batch || o.output_len < 1 ||
      o.prompt_len < 1 || o.repeats < 1) {
    return Status(ErrorCode::kInvalidParams,
                  "batch must be in [1, 256], requests at least the batch, the rest positive");
  }
  core::Progress progress(o.progress);
  progress.note("loading the model");
  MLXS_ASSIGN_OR_RETURN(auto rig, Rig::open(o));
  progress.note("compiling the MaskBench schemas");
  MLXS_ASSIGN_OR_RETURN(Schemas schemas, compile_schemas(o.maskbench_dir, rig->tokenizer(),
                                                         static_cast<std::size_t>(o.requests)));
  const auto prompts = random_prompts(o.requests, o.prompt_len, rig->vocab(), 29);
  auto greedy = [&](int i) {
    engine::GenerateRequest r;
    r.prompt = prompts[static_cast<std::size_t>(i)];
    r.sampling.temperature = 0;
    r.stop.max_tokens = o.output_len;
    return r;
  };
  auto constrained = [&](int i) {
    engine::GenerateRequest r = greedy(i);
    r.constraint = schemas.constraints[static_cast<std::size_t>(i) % schemas.constraints.size()];
    return r;
  };
  // Untimed: graphs, first touches, the matchers' first states.
  MLXS_RETURN_IF_ERROR(rig->closed_loop(o.batch, o.batch, constrained).status());

  // Pass 0 is cold: each schema's matcher fills its lazily built mask caches
  // there (what a schema's first requests pay in serving); the median is
  // over the warm passes after it.
  json repeats = json::array();
  std::vector<double> ratios, constrained_tps, free_tps;
  double cold_ratio = 0;
  for (int rep = 0; rep <= o.repeats; ++rep) {
    progress.update("constrained / free", rep, o.repeats + 1);
    MLXS_ASSIGN_OR_RETURN(Run c, rig->closed_loop(o.batch, o.requests, constrained));
    // The free twin of request i samples exactly as many tokens.
    auto twin = [&](int i) {
      engine::GenerateRequest r = greedy(i);
      r.stop.max_tokens = std::max(1, c.sampled[static_cast<std::size_t>(i)]);
      r.stop.ignore_eos = true;
      return r;
    };
    MLXS_ASSIGN_OR_RETURN(Run f, rig->closed_loop(o.batch, o.requests, twin));
    const double ratio = c.tokens_per_second() / f.tokens_per_second();
    repeats.push_back(
        json{{"cold", rep == 0}, {"constrained", run_json(c)}, {"free", run_json(f)}});
    if (rep == 0) {
      cold_ratio = ratio;
      continue;
    }
    constrained_tps.push_back(c.tokens_per_second());
    free_tps.push_back(f.tokens_per_second());
    ratios.push_back(ratio);
  }
  progress.done();
  const double ratio = median(ratios);
  return json{{"benchmark", "structured"},
              {"machine", describe_machine()},
              {"backend", rig->backend()},
              {"model", fs::path(o.model_dir).filename().string()},
              {"batch", o.batch},
              {"overlap", o.overlap},
              {"requests", o.requests},
              {"prompt_len", o.prompt_len},
              {"output_len", o.output_len},
              {"schemas", schemas.constraints.size()},
              {"schemas_refused", schemas.refused},
              {"repeats", repeats},
              {"constrained_tokens_per_second", median(constrained_tps)},
              {"free_tokens_per_second", median(free_tps)},
              {"loss", 1.0 - ratio},
              {"cold_loss", 1.0 - cold_ratio},
              {"bound", "constrained loses <= 3% of the free tokens/s (issue 8, batch 32, GPU)"},
              {"within_bound", ratio >= 0.97},
              {"what",
               "closed loop of B requests in flight over R: MaskBench JSON schemas, greedy, vs "
               "the same prompts unconstrained with the same per-request token counts; a cold "
               "first pass (schemas first used), then medians of the warm passes' ratios"}};
}

std::string format_structured_table(const json& r) {
  std::string out = fmt::format(
      "structured output cost: {} ({}), batch {}{}, {} requests ({} schemas), prompt {}, up to {} "
      "tokens\n",
      r["model"].get<std::string>(), r["backend"].get<std::string>(), r["batch"].get<int>(),
      r.value("overlap", true) ? "" : ", overlap off", r["requests"].get<int>(),
      r["schemas"].get<std::size_t>(), r["prompt_len"].get<int>(), r["output_len"].get<int>());
  out += fmt::format("  {:<6} {:>15} {:>12} {:>9} {:>8} {:>18}\n", "repeat", "constrained t/s",
                     "free t/s", "ratio", "steps", "host % (c / free)");
  int i = 1;
  for (const auto& rep : r["repeats"]) {
    const auto& c = rep["constrained"];
    const auto& f = rep["free"];
    const std::string name = rep["cold"].get<bool>() ? "cold" : std::to_string(i++);
    out += fmt::format(
        "  {:<6} {:>15.1f} {:>12.1f} {:>8.2f}% {:>8} {:>8.1f} / {:>5.1f}\n", name,
        c["tokens_per_second"].get<double>(), f["tokens_per_second"].get<double>(),
        100.0 * c["tokens_per_second"].get<double>() / f["tokens_per_second"].get<double>(),
        c["steps"].get<std::uint64_t>(), 100.0 * c["host_share"].get<double>(),
        100.0 * f["host_share"].get<double>());
  }
  out += fmt::format(
      "  warm median: constrained {:.1f} tok/s, free {:.1f} tok/s: loss {:+.2f}% (bound 3%: {}); "
      "cold pass loss {:+.2f}%\n",
      r["constrained_tokens_per_second"].get<double>(), r["free_tokens_per_second"].get<double>(),
      100.0 * r["loss"].get<double>(), r["within_bound"].get<bool>() ? "met" : "NOT met",
      100.0 * r["cold_loss"].get<double>());
  return out;
}

}  // namespace mlxs::bench
