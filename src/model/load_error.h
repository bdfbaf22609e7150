#pragma once
// How the loaders word what is wrong with a checkpoint or its config:
// ModelLoadError, naming the file where there is one, and shapes printed as
// "[out, in]".

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "tensor/dtype.h"

namespace mlxs::model {

inline core::Status load_error(const std::string& what) {
  return core::Status(core::ErrorCode::kModelLoadError, what);
}

// The same, about one file of the model directory ("config.json: ...").
inline core::Status file_error(const std::string& file, const std::string& what) {
  return load_error(file + ": " + what);
}

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The dtypes a weight may be stored in unquantized.
inline bool is_float_weight(tensor::DType d) {
  return d == tensor::DType::kF32 || d == tensor::DType::kF16 || d == tensor::DType::kBF16;
}

}  // namespace mlxs::model
