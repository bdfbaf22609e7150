#include "backend/cpu/quant_int8.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "backend/cpu/quant_int8_avx2.h"
#include "backend/cpu/quant_int8_neon.h"
#include "backend/cpu/quant_int8_single.h"
#include "backend/cpu/quant_params_vnni.h"
#include "backend/cpu/vnni_target.h"

namespace mlxs::backend::cpu::kernels {
namespace {

constexpr std::int64_t kBlock = 32;

// Integer dot product of one 32-column block with both digits of x:
// 256 · (q · hi) + q · lo, which fits int32 (255 · 127 · 32 · 257 < 2^31).
std::int32_t block_dot(const std::uint8_t* codes, int bits, std::int64_t blk, const Int8Row& x) {
  std::int32_t hi = 0;
  std::int32_t lo = 0;
  for (std::int64_t k = blk * kBlock; k < (blk + 1) * kBlock; ++k) {
    const auto q = static_cast<std::int32_t>(tensor::affine_code(codes, bits, k));
    hi += q * x.natural[0][k];
    lo += q * x.natural[1][k];
  }
  return hi * 256 + lo;
}

float center(int bits) {
  return bits == 4 ? 8.0f : 128.0f;
}

// sum_b scale(b) · dx_b · (q_b · xq_b) over blocks [first, K / 32).
float blocks_scalar(const QuantMatrix& w, std::int64_t n, const Int8Row& x, std::int64_t first) {
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const std::int64_t g0 = n * w.groups_per_row;
  const std::int64_t per_group = w.group / kBlock;
  float total = 0.0f;
  for (std::int64_t blk = first; blk < w.K / kBlock; ++blk) {
    total += w.scale(g0 + blk / per_group) * (x.block_scale[blk] / 256.0f) *
             static_cast<float>(block_dot(codes, w.bits, blk, x));
  }
  return total;
}

// sum_g bias_g · sum(x_g) + c · scale_g · lost_g: the exact terms.
float group_terms(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  const std::int64_t g0 = n * w.groups_per_row;
  const float* sums = x.sums(w.group);
  const float* lost = x.lost(w.group);
  float bias = 0.0f;
  float centring = 0.0f;
  for (std::int64_t g = 0; g < w.groups_per_row; ++g) {
    bias += w.bias(g0 + g) * sums[g];
    centring += w.scale(g0 + g) * lost[g];
  }
  return bias + center(w.bits) * centring;
}

// The coarser group sums from the 32-column ones.
void coarser(std::int64_t K, const float* by32, float* by64, float* by128) {
  for (std::int64_t g = 0; g < K / 64; ++g) by64[g] = by32[2 * g] + by32[2 * g + 1];
  for (std::int64_t g = 0; g < K / 128; ++g) by128[g] = by64[2 * g] + by64[2 * g + 1];
}

void coarser_sums(std::int64_t K, const Int8Row& out) {
  coarser(K, out.sum32, out.sum64, out.sum128);
  coarser(K, out.lost32, out.lost64, out.lost128);
}

std::int8_t to_int8(float v) {
  return static_cast<std::int8_t>(std::clamp(std::nearbyint(v), -128.0f, 127.0f));
}

void quantize_scalar(const float* x, std::int64_t K, const Int8Row& out) {
  for (std::int64_t blk = 0; blk < K / kBlock; ++blk) {
    const float* xb = x + blk * kBlock;
    float amax = 0.0f;
    float sum = 0.0f;
    for (std::int64_t k = 0; k < kBlock; ++k) {
      amax = std::max(amax, std::fabs(xb[k]));
      sum += xb[k];
    }
    const float dx = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    out.block_scale[blk] = dx;
    out.block_scale_256[blk] = dx / 256.0f;
    out.sum32[blk] = sum;
    const std::int64_t base = (blk / 4) * 128 + (blk % 4) * 16;
    float digits = 0.0f;  // sum of hi + lo / 256 over the block
    for (std::int64_t k = 0; k < kBlock; ++k) {
      const float t = xb[k] * inv;
      const std::int8_t hi = to_int8(t);
      const std::int64_t slot = base + (k % 2 == 0 ? 0 : 64) + k / 2;
      out.natural[0][blk * kBlock + k] = hi;
      out.interleaved[0][slot] = hi;
      digits += static_cast<float>(hi);
      if (out.single) continue;
      const std::int8_t lo = to_int8((t - hi) * 256.0f);
      digits += static_cast<float>(lo) / 256.0f;
      out.natural[1][blk * kBlock + k] = lo;
      out.interleaved[1][slot] = lo;
    }
    out.lost32[blk] = sum - dx * digits;
  }
}

// dx of each 32-bit lane of a 64-byte code vector (Int8Row::lanes4/lanes8).
void lane_scales(std::int64_t K, const Int8Row& out) {
  for (std::int64_t i = 0; i < K / 8; ++i) out.lanes4[i] = out.block_scale[i / 4];
  for (std::int64_t i = 0; i < K / 4; ++i) out.lanes8[i] = out.block_scale[i / 8];
}

#if defined(__x86_64__)

// Stores 32 digits (16 + 16 lanes) in both layouts.
MLXS_VNNI inline void store_digits(std::int8_t* natural, std::int8_t* interleaved, std::int64_t blk,
                                   __m512i a, __m512i b, __m512i even_idx, __m512i odd_idx) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(natural + blk * kBlock), _mm512_cvtsepi32_epi8(a));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(natural + blk * kBlock + 16),
                   _mm512_cvtsepi32_epi8(b));
  const std::int64_t base = (blk / 4) * 128 + (blk % 4) * 16;
  _mm_storeu_si128(reinterpret_cast<__m128i*>(interleaved + base),
                   _mm512_cvtsepi32_epi8(_mm512_permutex2var_epi32(a, even_idx, b)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(interleaved + base + 64),
                   _mm512_cvtsepi32_epi8(_mm512_permutex2var_epi32(a, odd_idx, b)));
}

MLXS_VNNI void quantize_vnni(const float* x, std::int64_t K, const Int8Row& out) {
  const __m512i even_idx =
      _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd_idx =
      _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  const __m512 scale_lo = _mm512_set1_ps(256.0f);
  for (std::int64_t blk = 0; blk < K / kBlock; ++blk) {
    const __m512 a = _mm512_loadu_ps(x + blk * kBlock);
    const __m512 b = _mm512_loadu_ps(x + blk * kBlock + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float dx = amax / 127.0f;
    out.block_scale[blk] = dx;
    out.block_scale_256[blk] = dx / 256.0f;
    out.sum32[blk] = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
    const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    // cvtps rounds to nearest even (the default mode); |t| <= 127 by construction.
    const __m512 ta = _mm512_mul_ps(a, inv);
    const __m512 tb = _mm512_mul_ps(b, inv);
    const __m512i ha = _mm512_cvtps_epi32(ta);
    const __m512i hb = _mm512_cvtps_epi32(tb);
    // The remainder, in 1/256 steps; +128 saturates to 127 on the store.
    const __m512i la =
        _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(ta, _mm512_cvtepi32_ps(ha)), scale_lo));
    const __m512i lb =
        _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(tb, _mm512_cvtepi32_ps(hb)), scale_lo));
    const __m512i lsat_a = _mm512_min_epi32(la, _mm512_set1_epi32(127));
    const __m512i lsat_b = _mm512_min_epi32(lb, _mm512_set1_epi32(127));
    const float hsum = static_cast<float>(_mm512_reduce_add_epi32(_mm512_add_epi32(ha, hb)));
    store_digits(out.natural[0], out.interleaved[0], blk, ha, hb, even_idx, odd_idx);
    if (out.single) {
      out.lost32[blk] = out.sum32[blk] - dx * hsum;
      continue;
    }
    const float lsum =
        static_cast<float>(_mm512_reduce_add_epi32(_mm512_add_epi32(lsat_a, lsat_b)));
    out.lost32[blk] = out.sum32[blk] - dx * (hsum + lsum / 256.0f);
    store_digits(out.natural[1], out.interleaved[1], blk, lsat_a, lsat_b, even_idx, odd_idx);
  }
}

// Scale of each of the 4 blocks of chunk c, for a group size G.
template <int G, ParamType P>
MLXS_VNNI inline __m128 scales4(const ParamElem<P>* s, std::int64_t c) {
  if constexpr (G == 32) {
    return load4<P>(s + 4 * c);
  } else if constexpr (G == 64) {
    return _mm_unpacklo_ps(load2<P>(s + 2 * c), load2<P>(s + 2 * c));  // s0 s0 s1 s1
  } else {
    return _mm512_castps512_ps128(broadcast<P>(s + c));
  }
}

// Scale of each of the 2 blocks of chunk c (64 columns).
template <int G, ParamType P>
MLXS_VNNI inline __m128 scales2(const ParamElem<P>* s, std::int64_t c) {
  if constexpr (G == 32) {
    return load2<P>(s + 2 * c);
  } else if constexpr (G == 64) {
    return _mm512_castps512_ps128(broadcast<P>(s + c));
  } else {
    return _mm512_castps512_ps128(broadcast<P>(s + c / 2));
  }
}

// 4-bit: a chunk is 4 blocks = 64 bytes of codes; the low nibbles are the
// blocks' even columns and the high nibbles their odd ones, which is how the
// interleaved input is laid out.
// One chunk's contribution: the two digits' integer dot products combined
// (256 · hi + lo), scaled per lane by scale · dx / 256 of the lane's block.
MLXS_VNNI inline __m512 chunk_fma(__m512i dh, __m512i dl, __m512 f, __m512 acc) {
  const __m512i d = _mm512_add_epi32(_mm512_slli_epi32(dh, 8), dl);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), f, acc);
}

// 4 bits: a chunk is 4 blocks = 64 bytes of codes; the low nibbles are the
// blocks' even columns and the high nibbles their odd ones, which is how the
// interleaved input is laid out. (Measured on Zen 4: two or four rows at a
// time sharing the input's loads, or software prefetch, were no faster.)
// A row's partial sums: vector lanes still to be added horizontally, and a
// scalar part. Each row is reduced once, after every term has been added.
struct RowSum {
  __m512 lanes;
  float scalar;
};

template <int G, ParamType P>
MLXS_VNNI RowSum row_q4(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  const std::int64_t chunks = w.K / 128;
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  const __m512i mask = _mm512_set1_epi8(0x0F);
  const __m512i lanes = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 acc = _mm512_setzero_ps();
  for (std::int64_t c = 0; c < chunks; ++c) {
    prefetch_ahead(codes + c * 64);
    const std::int8_t* xh = x.interleaved[0] + c * 128;
    const std::int8_t* xl = x.interleaved[1] + c * 128;
    const __m512i v = _mm512_loadu_si512(codes + c * 64);
    const __m512i even = _mm512_and_si512(v, mask);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    __m512i dh = _mm512_dpbusd_epi32(_mm512_setzero_si512(), even, _mm512_loadu_si512(xh));
    dh = _mm512_dpbusd_epi32(dh, odd, _mm512_loadu_si512(xh + 64));
    __m512i dl = _mm512_dpbusd_epi32(_mm512_setzero_si512(), even, _mm512_loadu_si512(xl));
    dl = _mm512_dpbusd_epi32(dl, odd, _mm512_loadu_si512(xl + 64));
    // dx / 256 per block: the lo digit's step.
    const __m128 f4 = _mm_mul_ps(scales4<G, P>(s, c), _mm_loadu_ps(x.block_scale_256 + 4 * c));
    acc = chunk_fma(dh, dl, _mm512_permutexvar_ps(lanes, _mm512_castps128_ps512(f4)), acc);
  }
  return {acc, blocks_scalar(w, n, x, chunks * 4)};
}

template <int G, ParamType P>
MLXS_VNNI RowSum row_q8(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  const std::int64_t chunks = w.K / 64;
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  const __m512i lanes = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  __m512 acc = _mm512_setzero_ps();
  for (std::int64_t c = 0; c < chunks; ++c) {
    prefetch_ahead(codes + c * 64);
    const __m512i q = _mm512_loadu_si512(codes + c * 64);
    const __m512i dh =
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(x.natural[0] + c * 64));
    const __m512i dl =
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(x.natural[1] + c * 64));
    const __m128 dx = _mm_castsi128_ps(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x.block_scale_256 + 2 * c)));
    const __m128 f2 = _mm_mul_ps(scales2<G, P>(s, c), dx);
    acc = chunk_fma(dh, dl, _mm512_permutexvar_ps(lanes, _mm512_castps128_ps512(f2)), acc);
  }
  return {acc, blocks_scalar(w, n, x, chunks * 2)};
}

template <int G, ParamType P>
MLXS_VNNI void rows_vnni(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                         const float* bias, float* y) {
  for (std::int64_t n = n0; n < n1; ++n) {
    const RowSum dot = w.bits == 4 ? row_q4<G, P>(w, n, x) : row_q8<G, P>(w, n, x);
    const __m512 terms = vnni_group_terms<P>(w, n, x);
    y[n] = (bias != nullptr ? bias[n] : 0.0f) +
           _mm512_reduce_add_ps(_mm512_add_ps(dot.lanes, terms)) + dot.scalar;
  }
}

#endif  // __x86_64__

}  // namespace

namespace {

// The int8 kernels this CPU runs: AVX-512 VNNI where it has it, else AVX2
// (one digit only); on aarch64 the dot product instructions
// (quant_int8_neon.h). MLXS_INT8_ISA=avx2 or none picks a lesser set, so that
// the AVX2 kernel's tests run on a VNNI machine too; any other value keeps
// the best.
enum class Isa : std::uint8_t { kNone, kAvx2, kVnni, kNeon };

Isa detect_isa() {
  bool vnni = false;
#if defined(__x86_64__)
  vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
  Isa best = vnni ? Isa::kVnni : int8_avx2_available() ? Isa::kAvx2 : Isa::kNone;
#if defined(__aarch64__)
  if (int8_neon_available()) best = Isa::kNeon;
#endif
  const char* forced = std::getenv("MLXS_INT8_ISA");
  if (forced == nullptr) {
    return best;
  }
  const std::string_view name(forced);
  if (name == "none") {
    return Isa::kNone;
  }
  if (name == "avx2" && (best == Isa::kVnni || best == Isa::kAvx2)) {
    return Isa::kAvx2;
  }
  return best;
}

Isa isa() {
  static const Isa chosen = detect_isa();
  return chosen;
}

}  // namespace

bool int8_path_available(int digits) {
  return digits == 1 ? isa() != Isa::kNone : isa() == Isa::kVnni || isa() == Isa::kNeon;
}

std::string_view int8_isa_name() {
  switch (isa()) {
    case Isa::kVnni:
      return "avx512vnni";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kNeon:
      return "neon-dotprod";
    case Isa::kNone:
      break;
  }
  return "none";
}

namespace {

// Lays an Int8Row out from `base` (nullptr: only counts); returns the floats.
std::size_t lay_out(float* base, std::int64_t K, bool single, Int8Row& row) {
  std::size_t at = 0;
  // 64-byte aligned pieces; `count` floats each.
  auto take = [&](std::int64_t count) {
    float* p = base == nullptr ? nullptr : base + at;
    at += (static_cast<std::size_t>(count) + 15) / 16 * 16;
    return p;
  };
  const std::int64_t blocks = K / kBlock;
  // Digits: K bytes in order, K + 128 interleaved (a partial last chunk
  // spills into the pad), each a whole number of floats.
  for (int d = 0; d < 2; ++d) row.natural[d] = reinterpret_cast<std::int8_t*>(take(K / 4));
  for (int d = 0; d < 2; ++d) {
    row.interleaved[d] = reinterpret_cast<std::int8_t*>(take(K / 4 + 32));
  }
  row.block_scale = take(blocks);
  row.block_scale_256 = take(blocks);
  row.sum32 = take(blocks);
  row.sum64 = take(blocks / 2);
  row.sum128 = take(blocks / 4);
  row.lost32 = take(blocks);
  row.lost64 = take(blocks / 2);
  row.lost128 = take(blocks / 4);
  row.lanes4 = take(K / 8);
  row.lanes8 = take(K / 4);
  row.single = single;
  return at;
}

}  // namespace

std::size_t int8_row_floats(std::int64_t K) {
  Int8Row row;
  return lay_out(nullptr, K, false, row);
}

Int8Row int8_row_in(float* scratch, std::int64_t K, bool single) {
  Int8Row row;
  lay_out(scratch, K, single, row);
  return row;
}

void quantize_row_int8(const float* x, std::int64_t K, const Int8Row& out) {
#if defined(__x86_64__)
  if (isa() == Isa::kVnni) {
    quantize_vnni(x, K, out);
  } else {
    quantize_scalar(x, K, out);
  }
#elif defined(__aarch64__)
  if (isa() == Isa::kNeon) {
    quantize_row_int8_neon(x, K, out);
    coarser_sums(K, out);
    return;  // the NEON kernels read dx per block, not per lane
  }
  quantize_scalar(x, K, out);
#else
  quantize_scalar(x, K, out);
#endif
  coarser_sums(K, out);
  if (out.single) lane_scales(K, out);
}

void int8_linear_rows(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                      const float* bias, float* y) {
#if defined(__aarch64__)
  if (isa() == Isa::kNeon) {
    int8_rows_neon(w, x, n0, n1, bias, y);
    return;
  }
#endif
  if (x.single && isa() == Isa::kAvx2) {
    int8_single_rows_avx2(w, x, n0, n1, bias, y);
    return;
  }
#if defined(__x86_64__)
  if (x.single && isa() == Isa::kVnni) {
    int8_single_rows(w, x, n0, n1, bias, y);
    return;
  }
  if (isa() == Isa::kVnni) {
    with_kernel_params(w, [&](auto g, auto p) {
      rows_vnni<decltype(g)::value, decltype(p)::value>(w, x, n0, n1, bias, y);
    });
    return;
  }
#endif
  for (std::int64_t n = n0; n < n1; ++n) {
    y[n] = (bias != nullptr ? bias[n] : 0.0f) + blocks_scalar(w, n, x, 0) + group_terms(w, n, x);
  }
}

}  // namespace mlxs::backend::cpu::kernels
