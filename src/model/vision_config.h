#pragma once
// The vision half of a vision-language config.json (LLaVA, Gemma 3,
// Qwen2-VL, Qwen2.5-VL): the tower's shape, what distinguishes one tower
// from another as data (VisionTraits, as ArchTraits does for decoders), the
// projector into the decoder's embedding space and the tokens that stand for
// an image in a prompt. Both config layouts (transformers 4.x and 5.x) read
// to the same values.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "tensor/backend.h"

namespace mlxs::model {

enum class VisionFamily : std::uint8_t { kClip, kSiglip, kQwen2Vl, kQwen25Vl };
enum class ProjectorKind : std::uint8_t {
  kLlavaMlp,    // linear, activation, linear
  kGemma3Pool,  // average pooling, (1 + w) RMSNorm, matrix stored [vision, text]
  kQwenMerger,  // norm, 2 x 2 neighbours concatenated, linear, GELU, linear
};

struct VisionTraits {
  bool class_token = false;        // CLIP: a learned first row
  bool pre_norm = false;           // CLIP: LayerNorm before the blocks
  bool post_norm = false;          // SigLIP: LayerNorm after the last block
  bool learned_positions = false;  // absolute position table; else 2-D rotary
  bool patch_bias = false;
  bool rms_norm = false;          // RMSNorm blocks (Qwen2.5-VL); else LayerNorm
  bool gated_mlp = false;         // gate/up/down (Qwen2.5-VL); else fc1, act, fc2
  bool fused_qkv = false;         // one qkv matrix (Qwen)
  bool window_attention = false;  // Qwen2.5-VL: blocks attend within windows
};

struct VisionConfig {
  VisionFamily family = VisionFamily::kClip;
  ProjectorKind projector = ProjectorKind::kLlavaMlp;
  VisionTraits traits;
  std::string model_type;  // the top level's: "llava", "gemma3", "qwen2_vl", ...

  std::int64_t hidden = 0;
  std::int64_t layers = 0;
  std::int64_t heads = 0;
  std::int64_t intermediate = 0;
  std::int64_t channels = 3;
  std::int64_t patch = 0;
  std::int64_t image_size = 0;                      // fixed-size towers (CLIP, SigLIP)
  std::int64_t temporal_patch = 1;                  // Qwen
  std::int64_t merge = 1;                           // Qwen's spatial merge
  std::int64_t window = 0;                          // Qwen2.5-VL: window side in patches
  std::vector<std::int64_t> full_attention_blocks;  // Qwen2.5-VL
  double eps = 1e-6;
  tensor::Activation activation = tensor::Activation::kGelu;
  double rope_theta = 10000.0;  // Qwen's 2-D rotary

  // LLaVA: the blocks to run (vision_feature_layer resolved: -2 of 24 runs
  // 23) and whether the class row is dropped ("default" strategy).
  std::int64_t feature_layers = 0;
  bool drop_class_token = true;
  tensor::Activation projector_activation = tensor::Activation::kGelu;
  bool projector_bias = true;
  std::int64_t tokens_per_image = 0;  // Gemma 3's pooled tokens

  std::int64_t image_token_id = -1;
  std::optional<std::int64_t> image_start_id;  // Gemma 3 start_of_image, Qwen vision_start
  std::optional<std::int64_t> image_end_id;
  // Gemma 3: an image's tokens attend to each other both ways.
  bool bidirectional_image_attention = false;

  std::int64_t head_dim() const { return hidden / heads; }
  // Patch rows of one image of a fixed-size tower.
  std::int64_t fixed_patches() const { return (image_size / patch) * (image_size / patch); }
  // Values per patch row the tower reads.
  std::int64_t patch_values() const { return channels * temporal_patch * patch * patch; }
};

// nullopt for a text-only config; ModelLoadError naming `file` and the key
// for a vision config that is malformed or of a family we do not serve.
// `text_hidden` is the decoder's width (the projector's output).
core::Result<std::optional<VisionConfig>> parse_vision_config(const core::Json& doc,
                                                              const std::string& file);

// Top-level model_type values of the vision-language models we serve.
std::vector<std::string> supported_vision_model_types();

}  // namespace mlxs::model
