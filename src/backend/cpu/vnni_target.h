#pragma once
// What the int8 row kernels need to compile for AVX-512 VNNI whatever the
// build's baseline; they are called only after int8_path_available() said
// the CPU has it. Included by those kernels' .cpp files only.

#include <cstdint>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#define MLXS_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c")))
// GCC 12's intrinsics fill "undefined" lanes from a self-initialised local,
// which -Wuninitialized reports inside our inlined callers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

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

}  // namespace mlxs::backend::cpu::kernels
