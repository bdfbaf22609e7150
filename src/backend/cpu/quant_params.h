#pragma once
// The int8 row kernels' compile-time parameters: the weight's group size and
// the element type of its scales and biases (QuantMatrix::params), which the
// kernels widen in registers per instruction set (quant_params_vnni.h,
// quant_int8_avx2.cpp).

#include <cstdint>
#include <type_traits>

#include "backend/cpu/quant_kernels.h"

namespace mlxs::backend::cpu::kernels {

// f(std::integral_constant<int, G>{}) for a weight's group size: the row
// kernels are specialised per group (32, 64; anything else is 128, the
// largest size import accepts).
template <typename F>
void with_group(std::int64_t group, F&& f) {
  switch (group) {
    case 32:
      return f(std::integral_constant<int, 32>{});
    case 64:
      return f(std::integral_constant<int, 64>{});
    default:
      return f(std::integral_constant<int, 128>{});
  }
}

// The element type params of type P are stored in.
template <ParamType P>
using ParamElem = std::conditional_t<P == ParamType::kF32, float, std::uint16_t>;

template <ParamType P>
const ParamElem<P>* param_ptr(const void* p, std::int64_t offset) {
  return static_cast<const ParamElem<P>*>(p) + offset;
}

// f(std::integral_constant<ParamType, P>{}) for a weight's param type.
template <typename F>
void with_params(ParamType params, F&& f) {
  switch (params) {
    case ParamType::kBF16:
      return f(std::integral_constant<ParamType, ParamType::kBF16>{});
    case ParamType::kF16:
      return f(std::integral_constant<ParamType, ParamType::kF16>{});
    case ParamType::kF32:
      break;
  }
  return f(std::integral_constant<ParamType, ParamType::kF32>{});
}

}  // namespace mlxs::backend::cpu::kernels
