#include "backend/cpu/quant_int8_single.h"

#include "backend/cpu/quant_params_vnni.h"
#include "backend/cpu/vnni_target.h"

namespace mlxs::backend::cpu::kernels {
namespace {

constexpr std::int64_t kBlock = 32;

#if defined(__x86_64__)

// The row's group scale of each lane of chunk c: a 4-bit chunk is 4 blocks
// (4 lanes each), an 8-bit one 2 blocks (8 lanes each).
template <int Bits, int G, ParamType P>
MLXS_VNNI inline __m512 lane_scales(const ParamElem<P>* s, std::int64_t c) {
  constexpr int kBlocks = Bits == 4 ? 4 : 2;     // blocks per chunk
  constexpr int kGroups = kBlocks * kBlock / G;  // groups per chunk, 0 when G spans chunks
  if constexpr (kGroups <= 1) {
    return broadcast<P>(s + c * kBlocks * kBlock / G);
  } else if constexpr (kGroups == 2) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(load2<P>(s + 2 * c)));
  } else {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(load4<P>(s + 4 * c)));
  }
}

// One chunk of 4-bit codes (64 bytes = 4 blocks) into acc.
template <int G, ParamType P>
MLXS_VNNI inline __m512 chunk_q4(const std::uint8_t* codes, const ParamElem<P>* s, const Int8Row& x,
                                 std::int64_t c, __m512 acc) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  const std::int8_t* xi = x.interleaved[0] + c * 128;
  const __m512i v = _mm512_loadu_si512(codes + c * 64);
  const __m512i even = _mm512_and_si512(v, mask);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
  __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), even, _mm512_loadu_si512(xi));
  d = _mm512_dpbusd_epi32(d, odd, _mm512_loadu_si512(xi + 64));
  const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(x.lanes4 + c * 16));
  return _mm512_fmadd_ps(t, lane_scales<4, G, P>(s, c), acc);
}

// One chunk of 8-bit codes (64 bytes = 2 blocks) into acc.
template <int G, ParamType P>
MLXS_VNNI inline __m512 chunk_q8(const std::uint8_t* codes, const ParamElem<P>* s, const Int8Row& x,
                                 std::int64_t c, __m512 acc) {
  const __m512i q = _mm512_loadu_si512(codes + c * 64);
  const __m512i d =
      _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(x.natural[0] + c * 64));
  const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(x.lanes8 + c * 16));
  return _mm512_fmadd_ps(t, lane_scales<8, G, P>(s, c), acc);
}

template <int Bits, int G, ParamType P>
MLXS_VNNI inline __m512 chunk(const std::uint8_t* codes, const ParamElem<P>* s, const Int8Row& x,
                              std::int64_t c, __m512 acc) {
  if constexpr (Bits == 4) {
    return chunk_q4<G, P>(codes, s, x, c, acc);
  } else {
    return chunk_q8<G, P>(codes, s, x, c, acc);
  }
}

// One row: chunks of 64 code bytes (Bits 4: low nibbles are the blocks' even
// columns and high nibbles their odd ones, as x.interleaved lays out the
// input), then any lone 32-column blocks. Two accumulators halve the chain of
// dependent adds a short row (16 chunks at K = 2048) is otherwise bound by.
// One row per pass: two or four rows sharing the input's loads ran 1.5x
// faster from cache but 1.4x slower from memory (Zen 4), where one sequential
// stream per thread keeps the prefetchers ahead.
template <int Bits, int G, ParamType P>
MLXS_VNNI float row(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  constexpr std::int64_t kColumns = Bits == 4 ? 128 : 64;  // per chunk
  const std::int64_t chunks = w.K / kColumns;
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  __m512 acc0 = vnni_group_terms<P>(w, n, x);
  __m512 acc1 = _mm512_setzero_ps();
  std::int64_t c = 0;
  for (; c + 2 <= chunks; c += 2) {
    prefetch_ahead(codes + c * 64);
    prefetch_ahead(codes + c * 64 + 64);
    acc0 = chunk<Bits, G, P>(codes, s, x, c, acc0);
    acc1 = chunk<Bits, G, P>(codes, s, x, c + 1, acc1);
  }
  if (c < chunks) {
    acc0 = chunk<Bits, G, P>(codes, s, x, c, acc0);
  }
  float tail = 0.0f;
  for (std::int64_t blk = chunks * kColumns / kBlock; blk < w.K / kBlock; ++blk) {
    tail += int8_single_lone_block(w, n, x, blk);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tail;
}

// Each instruction set keeps its own loop over rows, the row kernel inlined
// into it: a shared loop calling the kernel per row measured ~3% slower
// (4-bit, alternated runs), and so did moving the lone-block loop into one
// function both kernels call (~6%).
template <int G, ParamType P>
MLXS_VNNI void rows(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                    const float* bias, float* y) {
  for (std::int64_t n = n0; n < n1; ++n) {
    const float dot = w.bits == 4 ? row<4, G, P>(w, n, x) : row<8, G, P>(w, n, x);
    y[n] = (bias != nullptr ? bias[n] : 0.0f) + dot;
  }
}

#endif  // __x86_64__

}  // namespace

float int8_single_lone_block(const QuantMatrix& w, std::int64_t n, const Int8Row& x,
                             std::int64_t blk) {
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  std::int32_t dot = 0;
  for (std::int64_t k = blk * kBlock; k < (blk + 1) * kBlock; ++k) {
    dot += static_cast<std::int32_t>(tensor::affine_code(codes, w.bits, k)) * x.natural[0][k];
  }
  return w.scale(n * w.groups_per_row + blk * kBlock / w.group) * x.block_scale[blk] *
         static_cast<float>(dot);
}

void int8_single_rows(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
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
