#pragma once
// How a checkpoint's weights are quantized, read from config.json: MLX's
// `quantization` (mlx-lm writes it, and the same dict as
// `quantization_config`), Hugging Face fine-grained FP8 (`quant_method: fp8`)
// and compressed-tensors float-quantized FP8 (per channel or per tensor).
// Anything else that claims to be quantized is a ModelLoadError naming it:
// a method we cannot read must never load as garbage weights.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"

namespace mlxs::model {

enum class QuantMethod : std::uint8_t { kNone, kMlxAffine, kFp8Block, kFp8Channel };

struct AffineParams {
  int bits = 0;
  std::int64_t group_size = 0;
};

struct QuantConfig {
  QuantMethod method = QuantMethod::kNone;
  // MLX: the default parameters and per-module overrides (nullopt: that
  // module is left unquantized).
  AffineParams affine;
  std::map<std::string, std::optional<AffineParams>> overrides;
  // FP8 blocks (rows, columns); compressed-tensors per tensor uses 0 rows.
  std::int64_t block_rows = 0;
  std::int64_t block_cols = 0;
  bool per_tensor = false;  // compressed-tensors strategy "tensor"
  // Modules the config says stay unquantized (exact names).
  std::vector<std::string> ignore;

  bool quantized() const { return method != QuantMethod::kNone; }
  // The affine parameters of one module ("model.layers.0.mlp.down_proj").
  std::optional<AffineParams> affine_for(const std::string& module) const;
};

std::string_view quant_method_name(QuantMethod method);

// Reads the quantization keys of a config document. Errors are
// ModelLoadError naming `file` and the key.
core::Result<QuantConfig> parse_quant_config(const core::Json& doc, const std::string& file);

}  // namespace mlxs::model
