#pragma once
// Rotary-embedding frequencies from a config's RoPE settings, computed the
// way Hugging Face transformers does (modeling_rope_utils), in double.

#include "model/config.h"
#include "tensor/backend.h"

namespace mlxs::model {

tensor::RopeSpec compute_rope(const RopeParams& params, std::int64_t head_dim,
                              std::int64_t max_position);

}  // namespace mlxs::model
