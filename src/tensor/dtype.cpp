#include "tensor/dtype.h"

#include <array>
#include <utility>

namespace mlxs::tensor {
namespace {

struct DTypeInfo {
  DType dtype;
  std::size_t size;
  std::string_view safetensors;
  std::string_view torch;
};

constexpr std::array<DTypeInfo, 12> kInfo{{
    {DType::kF32, 4, "F32", "float32"},
    {DType::kF16, 2, "F16", "float16"},
    {DType::kBF16, 2, "BF16", "bfloat16"},
    {DType::kF64, 8, "F64", "float64"},
    {DType::kF8E4M3, 1, "F8_E4M3", "float8_e4m3fn"},
    {DType::kI8, 1, "I8", "int8"},
    {DType::kU8, 1, "U8", "uint8"},
    {DType::kI16, 2, "I16", "int16"},
    {DType::kI32, 4, "I32", "int32"},
    {DType::kU32, 4, "U32", "uint32"},
    {DType::kI64, 8, "I64", "int64"},
    {DType::kBool, 1, "BOOL", "bool"},
}};

const DTypeInfo& info(DType dtype) {
  return kInfo[static_cast<std::size_t>(dtype)];
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  return info(dtype).size;
}
std::string_view dtype_name(DType dtype) {
  return info(dtype).safetensors;
}
std::string_view dtype_torch_name(DType dtype) {
  return info(dtype).torch;
}

std::optional<DType> dtype_from_safetensors(std::string_view name) {
  for (const auto& entry : kInfo) {
    if (entry.safetensors == name) return entry.dtype;
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_torch_name(std::string_view name) {
  if (name.starts_with("torch.")) name.remove_prefix(6);
  for (const auto& entry : kInfo) {
    if (entry.torch == name) return entry.dtype;
  }
  if (name == "float" || name == "fp32") return DType::kF32;
  if (name == "half" || name == "fp16") return DType::kF16;
  if (name == "bf16") return DType::kBF16;
  return std::nullopt;
}

}  // namespace mlxs::tensor
