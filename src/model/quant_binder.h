#pragma once
// Finds a quantized module's tensors in a checkpoint and checks them against
// the config's format before anything reads them: packed shapes against bits
// and group size, scales and biases present and shaped per group or block.
// Every error is a ModelLoadError naming the tensor and what is wrong.

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "core/status.h"
#include "model/quant_config.h"
#include "model/safetensors.h"
#include "tensor/backend.h"

namespace mlxs::model {

// The host weight of module `module` ("model.layers.0.mlp.up_proj") of
// logical shape [out, in] when the checkpoint stores it quantized, nullopt
// when it is a plain float weight. Names it reads are added to `used`.
core::Result<std::optional<tensor::Weight>> find_quantized(const WeightStore& store,
                                                           const QuantConfig& config,
                                                           const std::string& module,
                                                           std::int64_t out, std::int64_t in,
                                                           std::set<std::string>& used);

// Rows [begin, end) of a weight, plain or quantized (fused checkpoint
// matrices such as phi3's qkv_proj are split this way).
core::Result<tensor::Weight> weight_rows(const tensor::Weight& w, std::int64_t begin,
                                         std::int64_t end);

}  // namespace mlxs::model
