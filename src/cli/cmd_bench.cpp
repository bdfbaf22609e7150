// `mlx-serving bench ...`: benchmarks that print a table and save JSON.
#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "decode_bench.h"

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
  if (!result) return report_error(std::string(result.status().code_name()), result.status().message());
  std::fputs(bench::format_decode_table(*result).c_str(), stdout);
  return write_json_file(a.json_path, *result);
}

}  // namespace

void add_bench_command(CLI::App& parent, Action* action) {
  CLI::App* bench_cmd = parent.add_subcommand("bench", "Benchmarks (table on stdout, JSON with --json)");
  bench_cmd->require_subcommand(1);
  auto args = std::make_shared<DecodeArgs>();
  CLI::App* decode = bench_cmd->add_subcommand("decode", "Prefill and decode tokens/s vs the memory-bandwidth bound");
  decode->add_option("--model", args->options.model_dir, "Model directory")->required();
  decode->add_option("--batch", args->options.batches, "Batch sizes (comma-separated)")->delimiter(',');
  decode->add_option("--prompt-len", args->options.prompt_len, "Prompt tokens per sequence")->check(CLI::Range(1, 1 << 16));
  decode->add_option("--decode-tokens", args->options.decode_tokens, "Timed decode steps")->check(CLI::Range(1, 1 << 16));
  decode->add_option("--warmup", args->options.warmup, "Untimed decode steps first")->check(CLI::Range(0, 1 << 12));
  decode->add_option("--repeats", args->options.repeats, "Timed repeats, each between bandwidth probes")->check(CLI::Range(1, 100));
  decode->add_option("--threads", args->options.threads, "CPU threads (default: all)")->check(CLI::Range(0, 1024));
  decode->add_option("--probe-mib", args->probe_mib, "Bandwidth probe buffer (MiB)")->check(CLI::Range(64, 1 << 16));
  decode->add_option("--json", args->json_path, "Write the full result as JSON here");
  decode->add_flag("--quiet", args->quiet, "No progress on stderr");
  decode->callback([args, action] { *action = [args] { return run_decode(*args); }; });
}

}  // namespace mlxs::cli
