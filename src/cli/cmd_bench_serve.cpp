// `mlx-serving bench serve`: load against any OpenAI-compatible server
// (bench/serve_bench.h); a table on stdout, the full result as JSON.
#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "serve_bench.h"

namespace mlxs::cli {
namespace {

struct ServeBenchArgs {
  bench::ServeBenchOptions options;
  std::string json_path;
  bool quiet = false;
};

int run_bench_serve(ServeBenchArgs& a) {
  a.options.progress = !a.quiet;
  auto result = bench::run_serve_bench(a.options);
  if (!result) {
    return report_error(std::string(result.status().code_name()), result.status().message());
  }
  std::fputs(bench::format_serve_table(*result).c_str(), stdout);
  if (!a.json_path.empty()) {
    std::ofstream out(a.json_path);
    out << result->dump(2) << "\n";
    if (!out) return report_error("IoError", "cannot write the JSON report");
  }
  return (*result)["completed"].get<int>() > 0 ? 0 : 1;
}

}  // namespace

void add_bench_serve_command(CLI::App& app, Action* action) {
  CLI::App* bench_cmd = app.get_subcommand("bench");
  auto args = std::make_shared<ServeBenchArgs>();
  auto& o = args->options;
  CLI::App* cmd = bench_cmd->add_subcommand(
      "serve", "TTFT/TPOT/ITL/e2e percentiles and throughput of an OpenAI-compatible server");
  cmd->add_option("--url", o.url, "Server base URL (http://host:port)")->required();
  cmd->add_option("--model", o.model, "Model id to request")->required();
  cmd->add_option("--concurrency", o.concurrency, "Clients sending at once")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--num-prompts", o.num_prompts, "Requests in all")
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--input-len", o.input_len, "Prompt words (about one token each)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--output-len", o.output_len, "max_tokens of each request")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--request-rate", o.request_rate,
                  "Poisson arrivals per second (default: all at once)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--ignore-eos", o.ignore_eos, "Ask for exactly output-len tokens (ignore_eos)");
  cmd->add_option("--temperature", o.temperature, "Sampling temperature (0: greedy)")
      ->check(CLI::Range(0.0, 2.0));
  cmd->add_option("--top-p", o.top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--api-key", o.api_key, "Bearer key")->envname("OPENAI_API_KEY");
  cmd->add_option("--seed", o.seed, "Prompt generator seed");
  cmd->add_option("--json", args->json_path, "Write the full result as JSON here");
  cmd->add_flag("--quiet", args->quiet, "No progress bar");
  cmd->callback([args, action] { *action = [args] { return run_bench_serve(*args); }; });
}

}  // namespace mlxs::cli
