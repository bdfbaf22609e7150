#pragma once
// config.json and generation_config.json, in both layouts found in the wild:
// transformers 4.x (rope_theta / rope_scaling at top level, torch_dtype) and
// 5.x (rope_parameters, possibly one dict per layer type; dtype). Everything is
// resolved here into plain numbers; nothing downstream reads JSON.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "model/quant_config.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace mlxs::model {

enum class ArchKind : std::uint8_t {
  kLlama,
  kMistral,
  kQwen2,
  kQwen3,
  kQwen3Moe,
  kPhi3,
  kGemma2,
  kGemma3Text,
};

enum class LayerKind : std::uint8_t { kFull, kSliding };

enum class RopeType : std::uint8_t { kDefault, kLinear, kLlama3, kYarn };

struct RopeParams {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  double factor = 1.0;
  double partial_rotary_factor = 1.0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 0;
  // yarn
  std::optional<double> attention_factor;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  std::optional<double> mscale;
  std::optional<double> mscale_all_dim;
  bool truncate = true;
  // M-RoPE (Qwen2-VL): how many frequencies each position axis (time,
  // height, width) turns, in order; empty for one axis.
  std::vector<std::int64_t> mrope_section;
};

struct ModelConfig {
  ArchKind arch = ArchKind::kLlama;
  std::string model_type;    // "llama"
  std::string architecture;  // "LlamaForCausalLM"

  std::int64_t hidden = 0;
  std::int64_t layers = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t intermediate = 0;
  std::int64_t vocab = 0;
  std::int64_t max_position = 0;
  double rms_eps = 1e-6;
  bool tie_embeddings = false;
  tensor::Activation activation = tensor::Activation::kSilu;
  bool attention_bias = false;  // q/k/v (and o for llama-style) projections
  bool mlp_bias = false;

  std::vector<LayerKind> layer_types;  // one per layer
  std::int64_t sliding_window = 0;     // 0: none
  RopeParams rope_full;                // full-attention layers
  RopeParams rope_sliding;             // sliding layers (Gemma-3 has its own base)

  double attn_softcap = 0.0;   // 0: none
  double final_softcap = 0.0;  // 0: none
  std::optional<double> query_pre_attn_scalar;

  // Mixture of experts (qwen3_moe).
  std::int64_t num_experts = 0;
  std::int64_t experts_per_token = 0;
  std::int64_t moe_intermediate = 0;
  bool norm_topk_prob = false;
  std::int64_t decoder_sparse_step = 1;
  std::vector<std::int64_t> mlp_only_layers;

  tensor::DType dtype = tensor::DType::kF32;  // stored dtype named by the config
  QuantConfig quant;                          // how the checkpoint's weights are quantized

  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;
  std::optional<std::int64_t> pad_token_id;

  bool is_moe_layer(std::int64_t layer) const;
  float attention_scale() const;
};

struct GenerationConfig {
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;
  std::optional<std::int64_t> pad_token_id;
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::int64_t> top_k;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<std::int64_t> max_new_tokens;
};

// Names of the model_type values we serve, for error messages and docs.
std::vector<std::string> supported_model_types();
std::string_view arch_name(ArchKind arch);

// Errors are ModelLoadError naming `display_name` and the key.
core::Result<ModelConfig> parse_model_config(const core::Json& doc,
                                             const std::string& display_name);
core::Result<ModelConfig> load_model_config(const std::string& path,
                                            const std::string& display_name);
core::Result<GenerationConfig> parse_generation_config(const core::Json& doc,
                                                       const std::string& display_name);
// An absent file is not an error (defaults); a malformed one is.
core::Result<GenerationConfig> load_generation_config(const std::string& dir);

}  // namespace mlxs::model
