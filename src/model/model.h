#pragma once
// A loaded decoder-only language model: config, weights bound to a backend,
// and the one forward pass every architecture shares. The forward pass runs a
// StepBatch (any mix of prefill chunks and decode tokens of many sequences)
// against a paged KV cache and returns logits for the rows the batch asks for.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/arch.h"
#include "model/config.h"
#include "model/quantize.h"
#include "model/safetensors.h"
#include "model/vision_config.h"
#include "model/vision_tower.h"
#include "tensor/backend.h"
#include "tensor/communicator.h"

namespace mlxs::model {

// How far a load has got: tensors bound and their bytes, of the checkpoint's.
struct LoadProgress {
  std::size_t tensors = 0, tensors_total = 0;
  std::uint64_t bytes = 0, bytes_total = 0;
};
// A progress line for it: "12/291 tensors, MiB" and the bytes in that unit
// (KiB for checkpoints under 64 MiB).
struct LoadLine {
  std::string what;
  long done = 0, total = 0;
};
LoadLine describe_load(const LoadProgress& p);

struct LoadOptions {
  // Config file inside the directory (tests load config.transformers-v5.json).
  std::string config_file = "config.json";
  int max_batch_tokens = 512;  // rows of one forward pass
  int max_seqs = 64;           // sequences in one forward pass
  int max_logit_rows = 64;     // rows whose logits one pass may return
  int max_context = 0;         // 0: the config's max_position_embeddings
  // "int4" / "int8" (MLX affine, group 64) or "fp8" (e4m3 per channel):
  // quantize float weights at load. On a checkpoint that is already
  // quantized it is a consistency check; "", "none", "bf16" and "fp16" keep
  // the weights as stored.
  std::string quantization;
  // Vision models: the most patches one image may have (Qwen2-VL's
  // variable-size images); 0 takes the preprocessor config's max_pixels.
  std::int64_t max_image_patches = 0;
  // A backend whose KV cache is e4m3 (CUDA's --kv-cache-dtype fp8) and a
  // checkpoint without k_scale / v_scale: the scales are calibrated at load
  // from one prefill of this many tokens (spread over the vocabulary, at most
  // max_batch_tokens) into a bf16 cache (kv_scales.h); under tensor
  // parallelism the group does it after every rank has loaded
  // (calibrate_kv_scales). 0: scales of 1.
  int kv_calibration_tokens = 256;
  // Called as checkpoint tensors are bound. For progress displays; may be
  // empty.
  std::function<void(const LoadProgress&)> progress;
  // Tensor parallelism (docs/tensor-parallel.md): this model is one rank of
  // the communicator's group, holding its shard of the weights and joining
  // the group's collectives in forward(); every rank loads the same
  // directory with the same options and runs the same steps. Null (or a
  // group of one): the whole model, no collectives.
  tensor::Communicator* communicator = nullptr;
};

struct LayerWeights {
  LayerKind kind = LayerKind::kFull;
  int rope_id = 0;
  tensor::AttentionSpec attention;
  tensor::Tensor attn_norm;       // input_layernorm
  tensor::Tensor post_attn_norm;  // Gemma: on the attention output
  tensor::Tensor ffn_norm;        // before the MLP
  tensor::Tensor post_ffn_norm;   // Gemma: on the MLP output
  tensor::Tensor q_norm;
  tensor::Tensor k_norm;
  tensor::Weight q, k, v, o;
  tensor::Weight gate, up, down;
  bool moe = false;
  tensor::Weight router;
  std::vector<tensor::Weight> expert_gate, expert_up, expert_down;
};

// InvalidParams unless `name` is a LoadOptions::quantization value ("",
// none, bf16, fp16, int4, int8, fp8): callers refuse it before touching files.
core::Status check_quantization_name(const std::string& name);

class Model {
 public:
  static core::Result<std::unique_ptr<Model>> load(const std::string& dir, tensor::Backend& backend,
                                                   const LoadOptions& options = {});
  ~Model();

  // Under tensor parallelism: this rank's heads, kv heads and MLP widths
  // (the vocabulary stays whole).
  const ModelConfig& config() const { return config_; }
  const GenerationConfig& generation_config() const { return generation_; }
  const ArchTraits& traits() const { return traits_; }
  tensor::Backend& backend() { return backend_; }
  const tensor::Backend& backend() const { return backend_; }
  const LoadOptions& options() const { return options_; }
  int max_context() const { return max_context_; }

  // Shape of a KV cache of `blocks` blocks for this model, with its KV-cache
  // scales when it has any.
  tensor::KvCacheShape kv_shape(int blocks, int block_size) const;
  // The KV-cache scales as KvCacheShape::scales holds them ([layers][2: K,
  // V][this rank's kv heads]): the checkpoint's, else calibrated at load for
  // an e4m3 cache (LoadOptions::kv_calibration_tokens); empty otherwise.
  const std::vector<float>& kv_scales() const { return kv_scales_; }
  bool kv_scales_calibrated() const { return kv_scales_calibrated_; }
  // Calibrates kv_scales() from one prefill of `tokens` tokens (at most
  // max_batch_tokens and the context) into a temporary bf16 cache, on any
  // backend; Model::load calls it when the cache is e4m3 and the checkpoint
  // has no scales, except under tensor parallelism: there every rank must
  // call it together, once the whole group is loaded
  // (engine::TensorParallelGroup::calibrate_kv_scales).
  core::Status calibrate_kv_scales(int tokens);
  // Whether the scales are due: an e4m3 cache, no scales from the
  // checkpoint, none calibrated yet, and calibration not turned off.
  bool kv_calibration_due() const;

  // Runs one step. Returns logits [batch.logit_rows.size(), vocab] on the
  // backend's device, valid until the next call. The batch must respect the
  // load-time capacity; violations are InvalidParams, never memory errors.
  core::Result<tensor::Tensor> forward(const tensor::StepBatch& batch, tensor::KvStorage& kv);

  // Bytes of weights one decode token reads (every weight once; a tied
  // embedding counted once, as the output layer).
  std::size_t weight_bytes_per_token() const;
  std::size_t parameter_count() const;
  // Bytes the weights take as the backend holds them, wherever that is
  // (device or host): 16-bit matrices as stored, quantized ones packed with
  // their scales and biases (or as the backend's dequantized copy), norm
  // weights and biases widened to f32. Each checkpoint tensor counts once.
  std::size_t weight_bytes() const { return weight_bytes_; }
  // How the weights are held: "none", "mlx-affine 4-bit", "fp8-block",
  // "int4 at load", ...
  std::string quantization_summary() const;

  // Vision-language models (null for text-only ones): the tower's config,
  // which says the image token ids and whether image rows attend both ways.
  const VisionConfig* vision() const { return vision_ ? &vision_->config() : nullptr; }
  // Rows an image becomes in the prompt (InvalidParams for images the
  // model cannot take).
  core::Result<std::int64_t> image_tokens(const ImageInput& image) const;
  // Runs the tower: the image's rows [image_tokens, hidden] into `out`
  // (host), to be placed with StepBatch::embeds.
  core::Status encode_image(const ImageInput& image, std::span<float> out);
  // Whether rotary positions have axes (M-RoPE): steps then carry
  // StepBatch::rope_positions once an image is placed.
  bool multi_axis_rope() const { return !config_.rope_full.mrope_section.empty(); }

 private:
  Model(tensor::Backend& backend, LoadOptions options);
  // `vision`: the tower to bind besides the decoder (vision-language models).
  core::Status bind_weights(const std::optional<VisionConfig>& vision);
  core::Status plan_memory();
  core::Status validate(const tensor::StepBatch& batch, const tensor::KvStorage& kv) const;
  core::Status residual_norm(tensor::Tensor t, const tensor::Tensor& post_norm, tensor::Tensor x,
                             const tensor::Tensor& next_norm, tensor::Tensor h);
  core::Status validate_multimodal(const tensor::StepBatch& batch) const;
  // RoPE, the cache append and attention of layer `layer` (fused where the
  // backend can), observing K and V during calibration.
  core::Status attend(tensor::Tensor q, tensor::Tensor k, const tensor::Tensor& v,
                      tensor::KvStorage& kv, std::size_t layer, tensor::Tensor attn);

  tensor::Backend& backend_;
  LoadOptions options_;
  ModelConfig config_;
  GenerationConfig generation_;
  ArchTraits traits_;
  std::unique_ptr<WeightStore> store_;
  // Weights quantized at load, by checkpoint tensor name.
  std::map<std::string, std::unique_ptr<QuantizedMatrix>> quantized_;
  int max_context_ = 0;
  std::size_t weight_bytes_ = 0;

  std::unique_ptr<VisionTower> vision_;
  // Where the decoder's tensors are: "model." for text checkpoints,
  // "language_model.model." or "model.language_model." in vision ones.
  std::string text_prefix_ = "model.";
  std::string head_name_ = "lm_head";
  tensor::Weight embed_;    // [vocab, hidden], possibly quantized
  tensor::Weight lm_head_;  // this rank's vocabulary rows under tensor parallelism
  tensor::Tensor final_norm_;
  std::vector<LayerWeights> layers_;
  std::vector<float> kv_scales_;  // see kv_scales()
  bool kv_scales_calibrated_ = false;
  // During calibrate_kv_scales only (its local; null otherwise): the largest
  // |K| and |V| written so far, laid out as kv_scales_, and a host copy of
  // one layer's K or V.
  struct KvCalibration {
    std::vector<float> absmax, observed;
  };
  KvCalibration* calibration_ = nullptr;
  // Tensor parallelism: the group (null for a whole model) and this rank's
  // rows of the vocabulary [vocab_begin_, vocab_begin_ + vocab_rows_).
  tensor::Communicator* comm_ = nullptr;
  std::int64_t vocab_begin_ = 0, vocab_rows_ = 0;

  // Activation workspace, sized at load.
  std::unique_ptr<tensor::DeviceBuffer> workspace_;
  tensor::Tensor x_, h_, q_, k_, v_, attn_, t_, gate_, up_, rows_, logits_;
  tensor::Tensor logits_local_;  // [rows, vocab_rows_] before the gather (sharded only)
};

}  // namespace mlxs::model
