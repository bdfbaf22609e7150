#include "worker_bench.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "backend/cpu/thread_pool.h"
#include "child_process.h"
#include "core/progress.h"
#include "core/rng.h"
#include "engine/engine.h"
#include "engine_rig.h"
#include "machine.h"
#include "model/model.h"
#include "runtime/engine_setup.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;
using core::ErrorCode;
using core::Status;
using nlohmann::json;
using Tokens = std::vector<std::vector<std::int32_t>>;  // per stream

constexpr auto kReplyTimeout = std::chrono::seconds(600);

struct Run {
  double seconds = 0;
  std::int64_t tokens = 0;
  std::int64_t steps = 0;  // engine steps (in-process) / stream.step lines (worker)
  std::int64_t lines = 0;  // worker: stdout lines read
  std::int64_t bytes = 0;  // worker: stdout bytes read
  Tokens ids;
  double tokens_per_second() const {
    return seconds > 0 ? static_cast<double>(tokens) / seconds : 0;
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

runtime::RuntimeOptions worker_options(const WorkerBenchOptions& b) {
  runtime::RuntimeOptions o;
  o.threads = b.threads;
  o.backend = b.backend;
  return o;
}

// ---------------------------------------------------------------- in-process

class InProcess {
 public:
  static core::Result<std::unique_ptr<InProcess>> open(const WorkerBenchOptions& o) {
    auto self = std::unique_ptr<InProcess>(new InProcess());
    // The worker detokenizes every stream: so does this engine, when the
    // model has a tokenizer.
    MLXS_ASSIGN_OR_RETURN(self->rig_, EngineRig::open(o.model_dir, worker_options(o), "", false));
    return self;
  }

  std::int64_t vocab() const { return rig_->model->config().vocab; }
  std::string backend() const { return rig_->backend->describe(); }

  core::Result<Run> run(const std::vector<std::vector<std::int32_t>>& prompts, int output_len) {
    Run r;
    r.ids.resize(prompts.size());
    const auto t0 = Clock::now();
    std::vector<std::shared_ptr<engine::Stream>> streams;
    for (const auto& p : prompts) {
      engine::GenerateRequest req;
      req.prompt = p;
      req.sampling.temperature = 0;
      req.stop.max_tokens = output_len;
      req.stop.ignore_eos = true;
      MLXS_ASSIGN_OR_RETURN(auto s, rig_->engine->submit(std::move(req)));
      streams.push_back(std::move(s));
    }
    std::size_t open = streams.size();
    while (open > 0) {
      MLXS_ASSIGN_OR_RETURN(bool worked, rig_->engine->step());
      if (worked) ++r.steps;
      open = 0;
      for (std::size_t i = 0; i < streams.size(); ++i) {
        for (auto& item : streams[i]->take()) {
          r.ids[i].insert(r.ids[i].end(), item.tokens.begin(), item.tokens.end());
          r.tokens += static_cast<std::int64_t>(item.tokens.size());
        }
        if (auto e = streams[i]->error()) return *e;
        if (!streams[i]->done()) ++open;
      }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return r;
  }

 private:
  InProcess() = default;
  std::unique_ptr<EngineRig> rig_;
};

// ---------------------------------------------------------------- worker

class Worker {
 public:
  static core::Result<std::unique_ptr<Worker>> open(const WorkerBenchOptions& o,
                                                    const std::string& binary) {
    MLXS_ASSIGN_OR_RETURN(
        auto child, ChildProcess::start(
                        binary, {"runtime", "--threads", std::to_string(o.threads), "--backend",
                                 o.backend.kind, "--device", std::to_string(o.backend.device)}));
    auto self = std::unique_ptr<Worker>(new Worker(std::move(child)));
    MLXS_RETURN_IF_ERROR(self->call("runtime/info", json{{"protocol_version", "1.1"},
                                                         {"extensions", {"stream.step"}}})
                             .status());
    const std::string dir = std::filesystem::absolute(o.model_dir).string();
    MLXS_RETURN_IF_ERROR(
        self->call("load_model", json{{"model_id", "bench"}, {"local_path", dir}}).status());
    return self;
  }

  ~Worker() {
    (void)call("shutdown", json::object());
    child_.finish(std::chrono::seconds(10));
  }

  core::Result<Run> run(const std::vector<std::vector<std::int32_t>>& prompts, int output_len) {
    Run r;
    r.ids.resize(prompts.size());
    std::map<std::string, std::size_t> index;
    json requests = json::array();
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const std::string sid = fmt::format("r{}-s{}", runs_, i);
      index[sid] = i;
      requests.push_back(json{{"model_id", "bench"},
                              {"stream_id", sid},
                              {"prompt_tokens", prompts[i]},
                              {"max_tokens", output_len},
                              {"temperature", 0},
                              {"ignore_eos", true}});
    }
    ++runs_;
    const std::size_t bytes0 = child_.bytes_read();
    const auto t0 = Clock::now();
    const int id = next_id_++;
    MLXS_RETURN_IF_ERROR(child_.write_line(json{
        {"jsonrpc", "2.0"},
        {"method", "batch_generate"},
        {"id", id},
        {"params",
         {{"requests", std::move(requests)}}}}.dump()));
    std::size_t open = prompts.size();
    while (open > 0) {
      auto line = child_.read_line(kReplyTimeout);
      if (!line) return Status(ErrorCode::kIoError, "the worker stopped answering");
      ++r.lines;
      const json msg = json::parse(*line, nullptr, false);
      if (msg.is_discarded())
        return Status(ErrorCode::kIoError, "the worker wrote a non-JSON line");
      const std::string method = msg.value("method", "");
      if (method == "stream.step") {
        ++r.steps;
        for (const json& s : msg["params"]["streams"]) {
          const auto it = index.find(s["stream_id"].get<std::string>());
          if (it == index.end()) continue;
          for (const json& t : s["token_ids"]) r.ids[it->second].push_back(t.get<std::int32_t>());
          r.tokens += static_cast<std::int64_t>(s["token_ids"].size());
        }
      } else if (method == "stream.event") {
        const json& p = msg["params"];
        if (p["event"] != "completed") {
          return core::make_error(ErrorCode::kGenerationError, "a stream failed: {}",
                                  p.value("error", std::string("?")));
        }
        --open;
      } else if (msg.contains("error")) {
        return core::make_error(ErrorCode::kGenerationError, "batch_generate failed: {}",
                                msg["error"].dump());
      } else if (msg.contains("result") && msg["id"] == id) {
        for (const json& e : msg["result"]["results"]) {
          if (e["success"] != true) {
            return core::make_error(ErrorCode::kGenerationError, "a stream did not start: {}",
                                    e["error"].dump());
          }
        }
      }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.bytes = static_cast<std::int64_t>(child_.bytes_read() - bytes0);
    return r;
  }

 private:
  explicit Worker(ChildProcess child) : child_(std::move(child)) {}

  core::Result<json> call(const std::string& method, const json& params) {
    const int id = next_id_++;
    MLXS_RETURN_IF_ERROR(child_.write_line(
        json{{"jsonrpc", "2.0"}, {"method", method}, {"id", id}, {"params", params}}.dump()));
    while (auto line = child_.read_line(kReplyTimeout)) {
      const json msg = json::parse(*line, nullptr, false);
      if (msg.is_discarded() || !msg.contains("id") || msg["id"] != id) continue;
      if (msg.contains("error")) {
        return core::make_error(ErrorCode::kIoError, "{} failed: {}", method,
                                msg["error"].value("message", std::string("?")));
      }
      return msg["result"];
    }
    return core::make_error(ErrorCode::kIoError, "no answer to {}", method);
  }

  ChildProcess child_;
  int next_id_ = 1;
  int runs_ = 0;
};

std::string self_binary() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

json run_json(const Run& r) {
  return json{
      {"seconds", r.seconds}, {"tokens", r.tokens}, {"tokens_per_second", r.tokens_per_second()},
      {"steps", r.steps},     {"lines", r.lines},   {"bytes", r.bytes}};
}

}  // namespace

core::Result<json> run_worker_bench(const WorkerBenchOptions& o) {
  if (o.streams < 1 || o.streams > 64 || o.output_len < 1 || o.output_len > 4096 ||
      o.prompt_len < 1 || o.repeats < 1) {
    return Status(ErrorCode::kInvalidParams,
                  "streams must be in [1, 64], output length in [1, 4096], the rest positive");
  }
  const std::string binary = o.binary.empty() ? self_binary() : o.binary;
  if (binary.empty())
    return Status(ErrorCode::kInvalidParams, "cannot find the mlx-serving binary");
  const int threads = o.threads > 0 ? o.threads : backend::cpu::ThreadPool::available_cpus();
  WorkerBenchOptions opts = o;
  opts.threads = threads;
  core::Progress progress(o.progress);

  progress.note("loading the model in-process");
  MLXS_ASSIGN_OR_RETURN(auto local, InProcess::open(opts));
  progress.note("starting the worker and loading the model there");
  MLXS_ASSIGN_OR_RETURN(auto worker, Worker::open(opts, binary));
  const auto prompts = random_prompts(o.streams, o.prompt_len, local->vocab(), 17);

  // Untimed: first touches of weights and KV on both sides.
  const auto warm = std::vector<std::vector<std::int32_t>>(prompts.begin(), prompts.begin() + 1);
  MLXS_RETURN_IF_ERROR(local->run(warm, std::min(8, o.output_len)).status());
  MLXS_RETURN_IF_ERROR(worker->run(warm, std::min(8, o.output_len)).status());

  json repeats = json::array();
  std::vector<double> local_tps, worker_tps, ratios;
  bool same_tokens = true;
  for (int rep = 0; rep < o.repeats; ++rep) {
    progress.update("in-process / worker", rep, o.repeats);
    // Alternating, so a drift of the machine hits both alike.
    MLXS_ASSIGN_OR_RETURN(Run a, local->run(prompts, o.output_len));
    MLXS_ASSIGN_OR_RETURN(Run b, worker->run(prompts, o.output_len));
    const std::int64_t expected = static_cast<std::int64_t>(o.streams) * o.output_len;
    if (a.tokens != expected || b.tokens != expected) {
      return core::make_error(ErrorCode::kGenerationError,
                              "expected {} tokens, got {} in-process and {} through the worker",
                              expected, a.tokens, b.tokens);
    }
    same_tokens = same_tokens && a.ids == b.ids;
    local_tps.push_back(a.tokens_per_second());
    worker_tps.push_back(b.tokens_per_second());
    ratios.push_back(b.tokens_per_second() / a.tokens_per_second());
    repeats.push_back(json{{"in_process", run_json(a)}, {"worker", run_json(b)}});
  }
  progress.done();
  worker.reset();
  const double ratio = median(ratios);
  return json{{"benchmark", "worker"},
              {"machine", describe_machine()},
              {"backend", local->backend()},
              {"model", std::filesystem::path(o.model_dir).filename().string()},
              {"streams", o.streams},
              {"output_len", o.output_len},
              {"prompt_len", o.prompt_len},
              {"threads", threads},
              {"repeats", repeats},
              {"in_process_tokens_per_second", median(local_tps)},
              {"worker_tokens_per_second", median(worker_tps)},
              {"worker_fraction", ratio},
              {"overhead", 1.0 - ratio},
              {"bound", "overhead <= 1% (worker >= 99% of in-process tokens/s)"},
              {"within_bound", ratio >= 0.99},
              {"same_greedy_tokens", same_tokens},
              {"what",
               "N streams x O greedy tokens (ignore_eos) from submit to the last token: the "
               "engine stepped in-process vs a child `mlx-serving runtime` over pipes with "
               "stream.step; medians over alternating repeats"}};
}

std::string format_worker_table(const json& r) {
  std::string out = fmt::format(
      "worker overhead: {} ({}), {} streams x {} tokens, prompt {}, {} threads\n",
      r["model"].get<std::string>(), r["backend"].get<std::string>(), r["streams"].get<int>(),
      r["output_len"].get<int>(), r["prompt_len"].get<int>(), r["threads"].get<int>());
  out += fmt::format("  {:<6} {:>14} {:>14} {:>9} {:>12} {:>10}\n", "repeat", "in-process t/s",
                     "worker t/s", "worker %", "step lines", "KiB read");
  int i = 0;
  for (const auto& rep : r["repeats"]) {
    const auto& a = rep["in_process"];
    const auto& b = rep["worker"];
    out += fmt::format(
        "  {:<6} {:>14.1f} {:>14.1f} {:>8.2f}% {:>12} {:>10.1f}\n", ++i,
        a["tokens_per_second"].get<double>(), b["tokens_per_second"].get<double>(),
        100.0 * b["tokens_per_second"].get<double>() / a["tokens_per_second"].get<double>(),
        b["steps"].get<std::int64_t>(),
        static_cast<double>(b["bytes"].get<std::int64_t>()) / 1024.0);
  }
  out += fmt::format(
      "  median: in-process {:.1f} tok/s, worker {:.1f} tok/s: overhead {:+.2f}% (bound 1%: {}); "
      "same greedy tokens: {}\n",
      r["in_process_tokens_per_second"].get<double>(), r["worker_tokens_per_second"].get<double>(),
      100.0 * r["overhead"].get<double>(), r["within_bound"].get<bool>() ? "met" : "NOT met",
      r["same_greedy_tokens"].get<bool>() ? "yes" : "NO");
  return out;
}

}  // namespace mlxs::bench
