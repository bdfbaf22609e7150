#pragma once
// What distinguishes one decoder architecture from another, as data: the
// model code reads these flags and never switches on the architecture itself
// (../shared/DESIGN.md §3.1). A new architecture is a row in arch.cpp.

#include <string>

#include "model/config.h"

namespace mlxs::model {

struct ArchTraits {
  // RMSNorm multiplies by (norm_offset + w): 1 for Gemma's (1 + w) norms.
  float norm_offset = 0.0f;
  // Gemma-2/3 "sandwich": post-attention and pre/post feed-forward norms.
  bool sandwich_norms = false;
  bool qk_norm = false;
  // Embeddings scaled by sqrt(hidden) (Gemma).
  bool scale_embeddings = false;
  // Checkpoint stores q/k/v as one qkv_proj and gate/up as one gate_up_proj.
  bool fused_qkv = false;
  bool fused_gate_up = false;
  // o_proj carries a bias when the config's attention_bias is set (Llama,
  // Mistral); Qwen2's q/k/v biases never extend to o_proj.
  bool o_proj_bias_follows_config = true;
};

ArchTraits arch_traits(ArchKind arch);

}  // namespace mlxs::model
