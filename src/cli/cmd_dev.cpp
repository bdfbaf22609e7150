// `mlx-serving dev ...`: developer tools (synthetic models, quantization).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "model/quantize.h"
#include "model/synth.h"

namespace mlxs::cli {
namespace {

struct SynthArgs {
  model::SynthOptions options;
  std::string dtype = "bf16";
  std::string quant = "none";  // none | mlx-q4 | mlx-q8 | fp8
};

int report_quantized(const model::QuantizeOptions& o, const model::QuantizeResult& r, double s) {
  const std::string how = o.format == "fp8"
                              ? std::string("FP8 e4m3 per channel")
                              : fmt::format("{} bits (group {})", o.bits, o.group_size);
  std::fprintf(stderr,
               "wrote %s: %d matrices quantized to %s, %d tensors copied, %.2f GB -> %.2f GB in "
               "%.1f s\n",
               o.out_dir.c_str(), r.quantized, how.c_str(), r.copied,
               static_cast<double>(r.bytes_in) / 1e9, static_cast<double>(r.bytes_out) / 1e9, s);
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run_quantize(const model::QuantizeOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  auto result = model::quantize_model_dir(o);
  if (!result)
    return report_error(std::string(result.status().code_name()), result.status().message());
  return report_quantized(o, *result, seconds_since(t0));
}

int run_synth(SynthArgs& a) {
  if (a.dtype == "f32") {
    a.options.dtype = tensor::DType::kF32;
  } else if (a.dtype == "f16") {
    a.options.dtype = tensor::DType::kF16;
  } else {
    a.options.dtype = tensor::DType::kBF16;
  }
  // Quantized variants: each matrix is quantized as it is generated, with
  // `dev quantize`'s code and options (the float model is never written).
  if (a.quant != "none") {
    model::QuantizeOptions q;
    q.bits = a.quant == "mlx-q8" ? 8 : 4;
    q.format = a.quant == "fp8" ? "fp8" : "mlx";
    q.group_size = 64;  // mlx-lm's default
    q.threads = a.options.threads;
    a.options.quant = q;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto result = model::write_synthetic_model(a.options);
  if (!result)
    return report_error(std::string(result.status().code_name()), result.status().message());
  const double s = seconds_since(t0);
  const std::string stored = a.quant == "none" ? "" : " (" + a.quant + ")";
  std::fprintf(stderr,
               "wrote %s: %.3f B parameters%s, %.2f GB in %d shard(s), %.1f s (%.2f GB/s); "
               "tokenizer: %s\n",
               a.options.out_dir.c_str(), static_cast<double>(result->parameters) / 1e9,
               stored.c_str(), static_cast<double>(result->bytes_written) / 1e9, result->shards, s,
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
  synth
      ->add_option("--vision", args->options.vision,
                   "Add a vision tower: gemma3 (a Gemma 3 VLM around --arch gemma3_text; "
                   "gemma3-siglip with the published full-size SigLIP tower); qwen2.5-vl "
                   "(Qwen2.5-VL-7B's tower around --arch qwen2, e.g. --preset qwen2.5-7b; "
                   "qwen2.5-vl-tiny a small one)")
      ->check(CLI::IsMember({"gemma3", "gemma3-siglip", "qwen2.5-vl", "qwen2.5-vl-tiny"}));
  synth->add_option("--threads", args->options.threads, "Generator threads (default: all)")
      ->check(CLI::Range(0, 1024));
  synth
      ->add_option(
          "--quant", args->quant,
          "Write the weights quantized: MLX affine 4 or 8 bits (group 64), or FP8 per channel")
      ->check(CLI::IsMember({"none", "mlx-q4", "mlx-q8", "fp8"}));
  synth->callback([args, action] { *action = [args] { return run_synth(*args); }; });

  auto qargs = std::make_shared<model::QuantizeOptions>();
  CLI::App* quant = dev->add_subcommand(
      "quantize", "Write an MLX affine-quantized copy of a float model directory");
  quant->add_option("--model", qargs->model_dir, "Model directory")->required();
  quant->add_option("--out", qargs->out_dir, "Output directory")->required();
  quant->add_option("--format", qargs->format, "mlx (affine codes) or fp8 (e4m3 per channel)")
      ->check(CLI::IsMember({"mlx", "fp8"}));
  quant->add_option("--bits", qargs->bits, "Bits per weight (mlx)")
      ->check(CLI::IsMember({2, 3, 4, 5, 6, 8}));
  quant->add_option("--group-size", qargs->group_size, "Weights sharing a scale and bias")
      ->check(CLI::IsMember({32, 64, 128}));
  quant->add_option("--threads", qargs->threads, "Threads (default: all)")
      ->check(CLI::Range(0, 1024));
  quant->callback([qargs, action] { *action = [qargs] { return run_quantize(*qargs); }; });
}

}  // namespace mlxs::cli
