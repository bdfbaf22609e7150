// `mlx-serving dev ...`: developer tools (synthetic models).
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "model/synth.h"

namespace mlxs::cli {
namespace {

struct SynthArgs {
  model::SynthOptions options;
  std::string dtype = "bf16";
};

int run_synth(SynthArgs& a) {
  if (a.dtype == "f32") {
    a.options.dtype = tensor::DType::kF32;
  } else if (a.dtype == "f16") {
    a.options.dtype = tensor::DType::kF16;
  } else {
    a.options.dtype = tensor::DType::kBF16;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto result = model::write_synthetic_model(a.options);
  if (!result)
    return report_error(std::string(result.status().code_name()), result.status().message());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "wrote %s: %.3f B parameters, %.2f GB in %d shard(s), %.1f s (%.2f GB/s); "
               "tokenizer: %s\n",
               a.options.out_dir.c_str(), static_cast<double>(result->parameters) / 1e9,
               static_cast<double>(result->bytes_written) / 1e9, result->shards, s,
               static_cast<double>(result->bytes_written) / 1e9 / s,
               result->has_tokenizer ? result->tokenizer_family.c_str() : "none");
  return 0;
}

}  // namespace

void add_dev_command(CLI::App& parent, Action* action) {
  CLI::App* dev = parent.add_subcommand("dev", "Developer tools");
  dev->require_subcommand(1);
  auto args = std::make_shared<SynthArgs>();
  std::vector<std::string> presets;
  for (const auto& p : model::synth_presets()) presets.push_back(p.name);
  CLI::App* synth =
      dev->add_subcommand("synth-model", "Write a random-weight model in a real model's shapes");
  synth->add_option("--preset", args->options.preset, "Shape preset")
      ->check(CLI::IsMember(presets));
  synth
      ->add_option("--arch", args->options.arch, "Architecture (model_type); default: the preset's")
      ->check(CLI::IsMember(
          {"llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "phi3", "gemma2", "gemma3_text"}));
  synth->add_option("--dtype", args->dtype, "Weight dtype")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  synth->add_option("--out", args->options.out_dir, "Output directory")->required();
  synth->add_option("--seed", args->options.seed, "Random seed");
  synth
      ->add_option(
          "--tokenizer", args->options.tokenizer,
          "Tokenizer family (qwen3, llama3, llama2, gemma3, none); default: the architecture's")
      ->check(CLI::IsMember({"qwen3", "llama3", "llama2", "gemma3", "none"}));
  synth->add_option("--tokenizer-dir", args->options.tokenizer_dir,
                    "Folder with tokenizer.json and tokenizer_config.json");
  synth->add_option("--threads", args->options.threads, "Generator threads (default: all)")
      ->check(CLI::Range(0, 1024));
  synth->callback([args, action] { *action = [args] { return run_synth(*args); }; });
}

}  // namespace mlxs::cli
