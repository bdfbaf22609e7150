#pragma once
// Group scales and biases into AVX-512 lanes for the int8 row kernels, in
// whatever type the weight stores them (QuantMatrix::params): a bf16 is the
// top half of an f32 (one shift), an f16 one vcvtph2ps. Widening in
// registers keeps the bytes a row reads those of the checkpoint. Also the
// rows' group terms, which read them. Included by the int8 kernels' .cpp
// files only.

#include <cstdint>

#include "backend/cpu/quant_int8.h"
#include "backend/cpu/quant_params.h"
#include "backend/cpu/vnni_target.h"

namespace mlxs::backend::cpu::kernels {

#if defined(__x86_64__)

// 16-bit lanes (in the low half of each 32-bit one after a zero extension) to f32.
template <ParamType P>
MLXS_VNNI inline __m512 widen16(__m256i h) {
  if constexpr (P == ParamType::kF16) {
    return _mm512_cvtph_ps(h);
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <ParamType P>
MLXS_VNNI inline __m128 widen4(__m128i h) {
  if constexpr (P == ParamType::kF16) {
    return _mm_cvtph_ps(h);
  } else {
    return _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(h), 16));
  }
}

// The first `count` (≤ 16) params from p, the other lanes 0.
template <ParamType P>
MLXS_VNNI inline __m512 load16(const ParamElem<P>* p, std::int64_t count) {
  if (count >= 16) {
    if constexpr (P == ParamType::kF32) {
      return _mm512_loadu_ps(p);
    } else {
      return widen16<P>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
  }
  const auto m = static_cast<__mmask16>((1u << count) - 1u);
  if constexpr (P == ParamType::kF32) {
    return _mm512_maskz_loadu_ps(m, p);
  } else {
    return widen16<P>(_mm256_maskz_loadu_epi16(m, p));
  }
}

// 4 params into the low 4 lanes.
template <ParamType P>
MLXS_VNNI inline __m128 load4(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    return _mm_loadu_ps(p);
  } else {
    return widen4<P>(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
}

// 2 params into the low 2 lanes.
template <ParamType P>
MLXS_VNNI inline __m128 load2(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    return _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  } else {
    return widen4<P>(_mm_loadu_si32(p));
  }
}

// One param in every lane.
template <ParamType P>
MLXS_VNNI inline __m512 broadcast(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    return _mm512_set1_ps(*p);
  } else if constexpr (P == ParamType::kF16) {
    return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<std::int16_t>(*p)));
  } else {
    return _mm512_castsi512_ps(
        _mm512_set1_epi32(static_cast<std::int32_t>(std::uint32_t{*p} << 16)));
  }
}

// sum_g bias_g · sum(x_g) + c · scale_g · lost_g (quant_int8.h) of row n, in
// lanes: the int8 row kernels' exact terms, one and two digits alike.
template <ParamType P>
MLXS_VNNI inline __m512 vnni_group_terms(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  const ParamElem<P>* b = param_ptr<P>(w.biases, n * w.groups_per_row);
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  const float* sums = x.sums(w.group);
  const float* lost = x.lost(w.group);
  __m512 bias = _mm512_setzero_ps();
  __m512 centring = _mm512_setzero_ps();
  for (std::int64_t g = 0; g < w.groups_per_row; g += 16) {
    const std::int64_t left = w.groups_per_row - g;
    const auto m = static_cast<__mmask16>(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
    bias = _mm512_fmadd_ps(load16<P>(b + g, left), _mm512_maskz_loadu_ps(m, sums + g), bias);
    centring =
        _mm512_fmadd_ps(load16<P>(s + g, left), _mm512_maskz_loadu_ps(m, lost + g), centring);
  }
  return _mm512_fmadd_ps(_mm512_set1_ps(w.bits == 4 ? 8.0f : 128.0f), centring, bias);
}

#endif  // __x86_64__

}  // namespace mlxs::backend::cpu::kernels
