// `mlx-serving bench ...`: benchmarks that print a table and save JSON.
#include <cstdio>
#include <fstream>
#include <memory>

#include "allreduce_bench.h"
#include "cli/commands.h"
#include "decode_bench.h"
#include "engine_bench.h"
#include "guidance_bench.h"
#include "image_bench.h"
#include "kernel_bench.h"
#include "sampler_bench.h"
#include "structured_bench.h"
#include "tokenizer_bench.h"
#include "vision_bench.h"
#include "worker_bench.h"

namespace mlxs::cli {
namespace {

struct DecodeArgs {
  bench::DecodeBenchOptions options;
  std::string json_path;
  int probe_mib = 512;
  bool quiet = false;
};

int write_json_file(const std::string& path, const nlohmann::json& doc) {
  if (path.empty()) return 0;
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out) return report_error("IoError", "cannot write the JSON report");
  return 0;
}

int run_decode(DecodeArgs& a) {
  a.options.probe_bytes = static_cast<std::size_t>(a.probe_mib) << 20;
  a.options.progress = !a.quiet;
  auto result = bench::run_decode_bench(a.options);
  if (!result)
    return report_error(std::string(result.status().code_name()), result.status().message());
  std::fputs(bench::format_decode_table(*result).c_str(), stdout);
  return write_json_file(a.json_path, *result);
}

template <typename Options>
struct Job {
  Options options;
  std::string json_path;
};

// Runs a benchmark, prints its table, saves its JSON.
template <typename Options, typename RunFn, typename TableFn>
int run_job(const Job<Options>& job, RunFn run, TableFn table) {
  auto result = run(job.options);
  if (!result)
    return report_error(std::string(result.status().code_name()), result.status().message());
  std::fputs(table(*result).c_str(), stdout);
  return write_json_file(job.json_path, *result);
}

}  // namespace

void add_bench_command(CLI::App& parent, Action* action) {
  CLI::App* bench_cmd =
      parent.add_subcommand("bench", "Benchmarks (table on stdout, JSON with --json)");
  bench_cmd->require_subcommand(1);
  auto args = std::make_shared<DecodeArgs>();
  CLI::App* decode = bench_cmd->add_subcommand(
      "decode", "Prefill and decode tokens/s vs the memory-bandwidth bound");
  decode->add_option("--model", args->options.model_dir, "Model directory")->required();
  decode->add_option("--batch", args->options.batches, "Batch sizes (comma-separated)")
      ->delimiter(',');
  decode->add_option("--prompt-len", args->options.prompt_len, "Prompt tokens per sequence")
      ->check(CLI::Range(1, 1 << 16));
  decode->add_option("--decode-tokens", args->options.decode_tokens, "Timed decode steps")
      ->check(CLI::Range(1, 1 << 16));
  decode->add_option("--warmup", args->options.warmup, "Untimed decode steps first")
      ->check(CLI::Range(0, 1 << 12));
  decode
      ->add_option("--repeats", args->options.repeats,
                   "Timed repeats, each between bandwidth probes")
      ->check(CLI::Range(1, 100));
  decode->add_option("--threads", args->options.threads, "CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  decode->add_option("--backend", args->options.backend, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  decode->add_option("--device", args->options.device, "CUDA device")->check(CLI::Range(0, 64));
  add_tensor_parallel_option(decode, &args->options.tensor_parallel);
  add_max_batch_tokens_option(decode, &args->options.max_batch_tokens);
  add_kv_cache_dtype_option(decode, &args->options.kv_cache_dtype);
  decode->add_option("--probe-mib", args->probe_mib, "Bandwidth probe buffer (MiB)")
      ->check(CLI::Range(64, 1 << 16));
  decode
      ->add_option("--quantization", args->options.quantization,
                   "Quantize float weights at load (int4, int8, fp8)")
      ->check(CLI::IsMember({"none", "int4", "int8", "fp8"}));
  decode->add_flag("!--exact-quant", args->options.int8_activations,
                   "CPU: multiply 4/8-bit weights in exact f32 instead of the int8 path");
  decode
      ->add_option("--int8-digits", args->options.int8_digits,
                   "CPU int8 path: x as 1 int8 digit per element (fast) or 2 (near-exact)")
      ->check(CLI::Range(1, 2));
  decode->add_option("--json", args->json_path, "Write the full result as JSON here");
  decode->add_flag("--quiet", args->quiet, "No progress on stderr");
  decode->callback([args, action] { *action = [args] { return run_decode(*args); }; });

  auto tok = std::make_shared<Job<bench::TokenizerBenchOptions>>();
  CLI::App* tcmd = bench_cmd->add_subcommand(
      "tokenizer", "Encode/decode MB/s and tokens/s on prose, code and CJK");
  tcmd->add_option("--model", tok->options.model_dir, "Folder with tokenizer.json")->required();
  tcmd->add_option("--threads", tok->options.threads,
                   "Threads for the all-threads run (default: all)")
      ->check(CLI::Range(0, 1024));
  tcmd->add_option(
      "--mib",
      [tok](const CLI::results_t& r) {
        tok->options.text_bytes = std::stoul(r[0]) << 20;
        return true;
      },
      "MiB of text per kind");
  tcmd->add_option("--repeats", tok->options.repeats, "Repeats (the best is reported)")
      ->check(CLI::Range(1, 100));
  tcmd->add_option("--json", tok->json_path, "Write the full result as JSON here");
  tcmd->callback([tok, action] {
    *action = [tok] {
      return run_job(*tok, bench::run_tokenizer_bench, bench::format_tokenizer_table);
    };
  });

  auto sched = std::make_shared<Job<bench::SchedulerBenchOptions>>();
  CLI::App* scmd = bench_cmd->add_subcommand(
      "scheduler", "Scheduler cost per step with N running sequences (fake runner)");
  scmd->add_option("--running", sched->options.running, "Running sequences")
      ->check(CLI::Range(1, 65536));
  scmd->add_option("--steps", sched->options.steps, "Timed steps")->check(CLI::Range(1, 1000000));
  scmd->add_option("--json", sched->json_path, "Write the full result as JSON here");
  scmd->callback([sched, action] {
    *action = [sched] {
      return run_job(*sched, bench::run_scheduler_bench, bench::format_scheduler_table);
    };
  });

  auto kern = std::make_shared<Job<bench::KernelBenchOptions>>();
  CLI::App* kcmd =
      bench_cmd->add_subcommand("kernels", "Decode-critical ops alone on real model shapes");
  kcmd->add_option("--backend", kern->options.backend, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  kcmd->add_option("--device", kern->options.device, "CUDA device")->check(CLI::Range(0, 64));
  kcmd->add_option("--threads", kern->options.threads, "CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  kcmd->add_option("--reps", kern->options.reps, "Timed repetitions")->check(CLI::Range(1, 100000));
  kcmd->add_option("--json", kern->json_path, "Write the full result as JSON here");
  kcmd->callback([kern, action] {
    *action = [kern] {
      return run_job(*kern, bench::run_kernel_bench, bench::format_kernel_table);
    };
  });

  auto reduce = std::make_shared<Job<bench::AllReduceBenchOptions>>();
  CLI::App* rcmd = bench_cmd->add_subcommand(
      "allreduce", "Tensor parallelism's all-reduce + residual norm between the GPUs of this host");
  rcmd->add_option("--ranks", reduce->options.ranks, "GPUs (ranks)")->check(CLI::Range(2, 8));
  rcmd->add_option("--cols", reduce->options.cols, "Hidden size")->check(CLI::Range(4, 65536));
  rcmd->add_option("--rows", reduce->options.rows, "Row counts, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  rcmd->add_option("--reps", reduce->options.reps, "Timed graph launches")
      ->check(CLI::Range(1, 100000));
  rcmd->add_option("--json", reduce->json_path, "Write the full result as JSON here");
  rcmd->callback([reduce, action] {
    *action = [reduce] {
      return run_job(*reduce, bench::run_allreduce_bench, bench::format_allreduce_table);
    };
  });

  auto grammar = std::make_shared<Job<bench::GuidanceBenchOptions>>();
  CLI::App* gcmd = bench_cmd->add_subcommand(
      "grammar", "Token-mask time and verdicts over MaskBench (one thread)");
  gcmd->add_option("--fixtures", grammar->options.maskbench_dir, "MaskBench folder (holds data/)");
  gcmd->add_option("--tokenizer", grammar->options.tokenizer_dir,
                   "Folder with the Llama-3 tokenizer.json");
  gcmd->add_option("--limit", grammar->options.max_schemas, "At most N schemas (0: all)");
  gcmd->add_option("--filter", grammar->options.filter, "Only files whose name contains this");
  gcmd->add_option("--whitespace", grammar->options.whitespace,
                   "Whitespace policy: flexible or compact");
  gcmd->add_flag("--per-schema", grammar->options.per_schema, "Per-file verdicts in the JSON");
  gcmd->add_option("--json", grammar->json_path, "Write the full result as JSON here");
  gcmd->callback([grammar, action] {
    *action = [grammar] {
      return run_job(*grammar, bench::run_guidance_bench, bench::format_guidance_table);
    };
  });

  auto sampler = std::make_shared<Job<bench::SamplerBenchOptions>>();
  CLI::App* sacmd = bench_cmd->add_subcommand(
      "sampler", "Host sampler time per logit row by mode, on peaked and flat rows");
  sacmd->add_option("--vocab", sampler->options.vocab, "Vocabulary size")
      ->check(CLI::Range(2, 1 << 22));
  sacmd->add_option("--rows", sampler->options.rows, "Timed rows per mode and shape")
      ->check(CLI::Range(1, 100000));
  sacmd->add_option("--json", sampler->json_path, "Write the full result as JSON here");
  sacmd->callback([sampler, action] {
    *action = [sampler] {
      return run_job(*sampler, bench::run_sampler_bench, bench::format_sampler_table);
    };
  });

  auto vision = std::make_shared<Job<bench::VisionBenchOptions>>();
  CLI::App* vcmd = bench_cmd->add_subcommand(
      "vision", "Time to first token of one image request: the tower, then the prefill");
  vcmd->add_option("--model", vision->options.model_dir,
                   "Model directory (Gemma 3, LLaVA, Qwen2-VL, Qwen2.5-VL)")
      ->required();
  vcmd->add_option("--grid", vision->options.grid,
                   "Qwen: patches per side of the image (default 64: 896 px at patch 14)")
      ->check(CLI::Range(2, 128));
  vcmd->add_option("--backend", vision->options.backend, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  vcmd->add_option("--device", vision->options.device, "CUDA device");
  vcmd->add_option("--threads", vision->options.threads, "CPU threads (0: all)");
  vcmd->add_option("--text-tokens", vision->options.text_tokens, "Prompt tokens besides the image")
      ->check(CLI::Range(1, 2048));
  vcmd->add_option("--repeats", vision->options.repeats, "Timed requests")
      ->check(CLI::Range(1, 1000));
  vcmd->add_option("--warmup", vision->options.warmup, "Untimed requests first")
      ->check(CLI::Range(0, 100));
  vcmd->add_option("--json", vision->json_path, "Write the full result as JSON here");
  vcmd->callback([vision, action] {
    *action = [vision] {
      return run_job(*vision, bench::run_vision_bench, bench::format_vision_table);
    };
  });

  auto image = std::make_shared<Job<bench::ImageBenchOptions>>();
  CLI::App* imcmd = bench_cmd->add_subcommand(
      "image",
      "Images/s on one core: decode a generated PNG and JPEG and preprocess per processor");
  imcmd->add_option("--size", image->options.size, "Side of the square test image")
      ->check(CLI::Range(16, 8192));
  imcmd->add_option("--iterations", image->options.iterations, "Timed runs per row")
      ->check(CLI::Range(1, 100000));
  imcmd->add_option("--save-images", image->options.save_dir,
                    "Write bench.png and bench.jpg to this folder (for a PIL comparison)");
  imcmd->add_option("--json", image->json_path, "Write the full result as JSON here");
  imcmd->callback([image, action] {
    *action = [image] {
      return run_job(*image, bench::run_image_bench, bench::format_image_table);
    };
  });

  auto structured = std::make_shared<Job<bench::StructuredBenchOptions>>();
  CLI::App* stcmd = bench_cmd->add_subcommand(
      "structured", "Batched decode tokens/s with MaskBench JSON schemas vs unconstrained");
  auto& so = structured->options;
  stcmd->add_option("--model", so.model_dir, "Model directory")->required();
  stcmd->add_option("--tokenizer", so.tokenizer_dir, "Tokenizer folder (default: the model's)");
  stcmd->add_option("--fixtures", so.maskbench_dir, "MaskBench folder (holds data/)");
  stcmd->add_option("--batch", so.batch, "Requests in flight")->check(CLI::Range(1, 256));
  stcmd->add_option("--requests", so.requests, "Requests per run")->check(CLI::Range(1, 100000));
  stcmd->add_option("--prompt-len", so.prompt_len, "Prompt tokens")->check(CLI::Range(1, 1 << 16));
  stcmd->add_option("--output-len", so.output_len, "Most tokens per request")
      ->check(CLI::Range(1, 1 << 16));
  stcmd->add_option("--repeats", so.repeats, "Timed repeats")->check(CLI::Range(1, 100));
  stcmd->add_option("--threads", so.threads, "CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  stcmd->add_option("--kv-memory-mb", so.kv_memory_mb, "KV cache size")
      ->check(CLI::Range(16, 1 << 22));
  add_backend_options(stcmd, &so.backend);
  stcmd->add_flag(
      "--no-overlap", [structured](std::int64_t) { structured->options.overlap = false; },
      "Read each step's tokens before scheduling the next (measures the overlap mode)");
  stcmd->add_option("--json", structured->json_path, "Write the full result as JSON here");
  stcmd->add_flag(
      "--quiet", [structured](std::int64_t) { structured->options.progress = false; },
      "No progress on stderr");
  stcmd->callback([structured, action] {
    *action = [structured] {
      return run_job(*structured, bench::run_structured_bench, bench::format_structured_table);
    };
  });

  auto prefix = std::make_shared<Job<bench::PrefixBenchOptions>>();
  CLI::App* pcmd = bench_cmd->add_subcommand(
      "prefix", "TTFT of a repeated long prompt with prefix reuse on and off");
  pcmd->add_option("--model", prefix->options.model_dir, "Model directory")->required();
  pcmd->add_option("--prompt-len", prefix->options.prompt_len, "Prompt tokens")
      ->check(CLI::Range(16, 1 << 20));
  pcmd->add_option("--repeats", prefix->options.repeats, "Timed repeats per mode")
      ->check(CLI::Range(1, 100));
  pcmd->add_option("--threads", prefix->options.threads, "CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  pcmd->add_option("--json", prefix->json_path, "Write the full result as JSON here");
  pcmd->callback([prefix, action] {
    *action = [prefix] {
      return run_job(*prefix, bench::run_prefix_bench, bench::format_prefix_table);
    };
  });

  auto worker = std::make_shared<Job<bench::WorkerBenchOptions>>();
  CLI::App* wcmd = bench_cmd->add_subcommand(
      "worker", "Tokens/s in-process vs through a child runtime worker (stream.step)");
  wcmd->add_option("--model", worker->options.model_dir, "Model directory")->required();
  wcmd->add_option("--streams", worker->options.streams, "Concurrent streams")
      ->check(CLI::Range(1, 64));
  wcmd->add_option("--output-len", worker->options.output_len, "Tokens per stream")
      ->check(CLI::Range(1, 4096));
  wcmd->add_option("--prompt-len", worker->options.prompt_len, "Prompt tokens per stream")
      ->check(CLI::Range(1, 1 << 16));
  wcmd->add_option("--repeats", worker->options.repeats, "Timed repeats of each way")
      ->check(CLI::Range(1, 100));
  wcmd->add_option("--threads", worker->options.threads, "CPU threads, both ways (default: all)")
      ->check(CLI::Range(0, 1024));
  add_backend_options(wcmd, &worker->options.backend);
  wcmd->add_option("--binary", worker->options.binary, "mlx-serving to start as the worker");
  wcmd->add_option("--json", worker->json_path, "Write the full result as JSON here");
  wcmd->add_flag(
      "--quiet", [worker](std::int64_t) { worker->options.progress = false; },
      "No progress on stderr");
  wcmd->callback([worker, action] {
    *action = [worker] {
      return run_job(*worker, bench::run_worker_bench, bench::format_worker_table);
    };
  });
}

}  // namespace mlxs::cli
