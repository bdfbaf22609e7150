#pragma once
// What the int8 row kernels need to compile for AVX-512 VNNI whatever the
// build's baseline; they are called only where the CPU has it
// (quant_int8.cpp's dispatch). Included by those kernels' .cpp files only.

#if defined(__x86_64__)
#include <immintrin.h>
#define MLXS_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c")))
// GCC 12's intrinsics fill "undefined" lanes from a self-initialised local,
// which -Wuninitialized reports inside our inlined callers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
