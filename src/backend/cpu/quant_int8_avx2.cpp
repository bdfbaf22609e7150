#include "backend/cpu/quant_int8_avx2.h"

#include "backend/cpu/quant_int8_single.h"
#include "backend/cpu/quant_params.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define MLXS_AVX2 __attribute__((target("avx2,fma,f16c")))
// As in vnni_target.h: GCC 12's intrinsics trip -Wuninitialized when inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace mlxs::backend::cpu::kernels {
namespace {

#if defined(__x86_64__)

constexpr std::int64_t kBlock = 32;

// 8 params to f32 lanes.
template <ParamType P>
MLXS_AVX2 inline __m256 load8(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    return _mm256_loadu_ps(p);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (P == ParamType::kF16) {
      return _mm256_cvtph_ps(h);
    } else {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
}

// One param in every lane.
template <ParamType P>
MLXS_AVX2 inline __m256 broadcast8(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    return _mm256_set1_ps(*p);
  } else if constexpr (P == ParamType::kF16) {
    return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<std::int16_t>(*p)));
  } else {
    return _mm256_castsi256_ps(
        _mm256_set1_epi32(static_cast<std::int32_t>(std::uint32_t{*p} << 16)));
  }
}

// Params p[0] (lanes 0-3) and p[1] (lanes 4-7).
template <ParamType P>
MLXS_AVX2 inline __m256 pair8(const ParamElem<P>* p) {
  return _mm256_permute2f128_ps(broadcast8<P>(p), broadcast8<P>(p + 1), 0x20);
}

// sum_g bias_g · sum(x_g) + c · scale_g · lost_g (quant_int8.h), in lanes.
template <ParamType P>
MLXS_AVX2 __m256 group_terms(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  const ParamElem<P>* b = param_ptr<P>(w.biases, n * w.groups_per_row);
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  const float* sums = x.sums(w.group);
  const float* lost = x.lost(w.group);
  __m256 bias = _mm256_setzero_ps();
  __m256 centring = _mm256_setzero_ps();
  std::int64_t g = 0;
  for (; g + 8 <= w.groups_per_row; g += 8) {
    bias = _mm256_fmadd_ps(load8<P>(b + g), _mm256_loadu_ps(sums + g), bias);
    centring = _mm256_fmadd_ps(load8<P>(s + g), _mm256_loadu_ps(lost + g), centring);
  }
  float rest = 0.0f;  // fewer than 8 groups left
  const float c = w.bits == 4 ? 8.0f : 128.0f;
  for (; g < w.groups_per_row; ++g) {
    rest += w.param(b, g) * sums[g] + c * w.param(s, g) * lost[g];
  }
  const __m256 lanes = _mm256_fmadd_ps(_mm256_set1_ps(c), centring, bias);
  return _mm256_add_ps(lanes, _mm256_setr_ps(rest, 0, 0, 0, 0, 0, 0, 0));
}

// Half h (32 code bytes, blocks 2h and 2h + 1) of a 4-bit chunk of 64 bytes:
// u8 × s8 pairs (15 · 127 · 4 fits int16), summed into 32-bit lanes, 4 lanes
// per block as x.lanes4 lays out dx.
template <int G, ParamType P>
MLXS_AVX2 inline __m256 half_q4(const std::uint8_t* codes, const ParamElem<P>* s, const Int8Row& x,
                                std::int64_t c, int h, __m256 acc) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  const std::int8_t* xi = x.interleaved[0] + c * 128 + 32 * h;
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c * 64 + 32 * h));
  const __m256i even = _mm256_and_si256(v, mask);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
  const __m256i pairs = _mm256_add_epi16(
      _mm256_maddubs_epi16(even, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi))),
      _mm256_maddubs_epi16(odd, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xi + 64))));
  const __m256i d = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_loadu_ps(x.lanes4 + c * 16 + 8 * h));
  const std::int64_t blk = 4 * c + 2 * h;
  __m256 scale;
  if constexpr (G == 32) {
    scale = pair8<P>(s + blk);
  } else {
    scale = broadcast8<P>(s + blk * kBlock / G);
  }
  return _mm256_fmadd_ps(t, scale, acc);
}

// Half h (32 code bytes = block 2c + h) of an 8-bit chunk. Codes reach 255,
// so u8 × s8 pairs could overflow int16: each code is split into nibbles,
// q · x = 16 · (hi · x) + lo · x, both halves summed into 32-bit lanes.
template <int G, ParamType P>
MLXS_AVX2 inline __m256 half_q8(const std::uint8_t* codes, const ParamElem<P>* s, const Int8Row& x,
                                std::int64_t c, int h, __m256 acc) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c * 64 + 32 * h));
  const __m256i xv =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.natural[0] + c * 64 + 32 * h));
  const __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(q, mask), xv);
  const __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), mask), xv);
  const __m256i d = _mm256_add_epi32(_mm256_madd_epi16(hi, _mm256_set1_epi16(16)),
                                     _mm256_madd_epi16(lo, _mm256_set1_epi16(1)));
  const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_loadu_ps(x.lanes8 + c * 16 + 8 * h));
  const std::int64_t blk = 2 * c + h;
  return _mm256_fmadd_ps(t, broadcast8<P>(s + blk * kBlock / G), acc);
}

// One row: 64-byte chunks as in quant_int8_single.cpp, each as two 32-byte
// halves, then any lone blocks.
template <int Bits, int G, ParamType P>
MLXS_AVX2 float row(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  constexpr std::int64_t kColumns = Bits == 4 ? 128 : 64;  // per chunk
  const std::int64_t chunks = w.K / kColumns;
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  __m256 acc0 = group_terms<P>(w, n, x);
  __m256 acc1 = _mm256_setzero_ps();
  for (std::int64_t c = 0; c < chunks; ++c) {
    prefetch_ahead(codes + c * 64);
    if constexpr (Bits == 4) {
      acc0 = half_q4<G, P>(codes, s, x, c, 0, acc0);
      acc1 = half_q4<G, P>(codes, s, x, c, 1, acc1);
    } else {
      acc0 = half_q8<G, P>(codes, s, x, c, 0, acc0);
      acc1 = half_q8<G, P>(codes, s, x, c, 1, acc1);
    }
  }
  const __m256 acc = _mm256_add_ps(acc0, acc1);
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  float tail = 0.0f;
  for (std::int64_t blk = chunks * kColumns / kBlock; blk < w.K / kBlock; ++blk) {
    tail += int8_single_lone_block(w, n, x, blk);
  }
  return _mm_cvtss_f32(r) + tail;
}

template <int G, ParamType P>
MLXS_AVX2 void rows(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                    const float* bias, float* y) {
  for (std::int64_t n = n0; n < n1; ++n) {
    const float dot = w.bits == 4 ? row<4, G, P>(w, n, x) : row<8, G, P>(w, n, x);
    y[n] = (bias != nullptr ? bias[n] : 0.0f) + dot;
  }
}

#endif  // __x86_64__

}  // namespace

bool int8_avx2_available() {
#if defined(__x86_64__)
  // F16C from CPUID leaf 1 (clang's __builtin_cpu_supports does not know it).
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                                __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 &&
                                (ecx & bit_F16C) != 0;
  return available;
#else
  return false;
#endif
}

void int8_single_rows_avx2(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                           const float* bias, float* y) {
#if defined(__x86_64__)
  with_kernel_params(w, [&](auto g, auto p) {
    rows<decltype(g)::value, decltype(p)::value>(w, x, n0, n1, bias, y);
  });
#else
  (void)w, (void)x, (void)n0, (void)n1, (void)bias, (void)y;
#endif
}

}  // namespace mlxs::backend::cpu::kernels
