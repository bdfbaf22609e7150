#include "model/arch.h"

#include <fmt/format.h>

namespace mlxs::model {

ArchTraits arch_traits(ArchKind arch) {
  ArchTraits t;
  switch (arch) {
    case ArchKind::kLlama:
    case ArchKind::kMistral:
      break;
    case ArchKind::kQwen2:
      t.o_proj_bias_follows_config = false;
      break;
    case ArchKind::kQwen3:
    case ArchKind::kQwen3Moe:
      t.qk_norm = true;
      t.o_proj_bias_follows_config = false;
      break;
    case ArchKind::kPhi3:
      t.fused_qkv = true;
      t.fused_gate_up = true;
      t.o_proj_bias_follows_config = false;
      break;
    case ArchKind::kGemma2:
      t.norm_offset = 1.0f;
      t.sandwich_norms = true;
      t.scale_embeddings = true;
      t.o_proj_bias_follows_config = false;
      break;
    case ArchKind::kGemma3Text:
      t.norm_offset = 1.0f;
      t.sandwich_norms = true;
      t.scale_embeddings = true;
      t.qk_norm = true;
      t.o_proj_bias_follows_config = false;
      break;
  }
  return t;
}

}  // namespace mlxs::model
