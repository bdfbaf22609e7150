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

// Bytes of codes ahead of the chunk being read that the row kernels ask the
// memory for. One thread's reorder window holds only ~1.5 KB of loads in
// flight, short of what the memory's latency needs at full bandwidth, and the
// hardware prefetchers stop at every 4 KB page. On the 2-vCPU Zen 4 VM
// (2 threads, 33 GB/s state) 4-bit decode went from 33 to 39-40 tok/s with
// one digit, 28 to 36-37 with two, 28-29 to 38-40 on the AVX2 kernel; 2 KB
// ahead gave 38, 8 KB 37-39. A prefetch past the matrix does not fault.
inline constexpr std::int64_t kPrefetchAhead = 4096;

// Prefetches the line kPrefetchAhead bytes past p (an address only: it may
// lie past the weight, where pointer arithmetic would be undefined).
inline void prefetch_ahead(const std::uint8_t* p) {
  const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(p) + kPrefetchAhead;
  __builtin_prefetch(reinterpret_cast<const void*>(at), 0, 3);  // NOLINT(performance-no-int-to-ptr)
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

// f(group constant, param type constant) for the weight's kernel instance.
template <typename F>
void with_kernel_params(const QuantMatrix& w, F&& f) {
  with_group(w.group, [&](auto g) { with_params(w.params, [&](auto p) { f(g, p); }); });
}

}  // namespace mlxs::backend::cpu::kernels
