#pragma once
// Element types of tensors, with the names safetensors uses on disk.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mlxs::tensor {

enum class DType : std::uint8_t {
  kF32,
  kF16,
  kBF16,
  kF64,
  kF8E4M3,
  kI8,
  kU8,
  kI16,
  kI32,
  kU32,
  kI64,
  kBool,
};

std::size_t dtype_size(DType dtype);

// Safetensors names: "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_safetensors(std::string_view name);

// Config names: "float32", "bfloat16", "float16" (torch_dtype / dtype keys).
std::optional<DType> dtype_from_torch_name(std::string_view name);
std::string_view dtype_torch_name(DType dtype);

inline bool is_float16(DType dtype) {
  return dtype == DType::kF16 || dtype == DType::kBF16;
}

}  // namespace mlxs::tensor
