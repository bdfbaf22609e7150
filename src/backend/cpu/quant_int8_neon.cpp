#include "backend/cpu/quant_int8_neon.h"

#include <cstring>

#include "backend/cpu/quant_params.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <sys/auxv.h>  // getauxval, HWCAP_ASIMDDP (glibc's bits/hwcap.h)
// SDOT is optional before Armv8.4: only the functions marked with this are
// compiled for it, so the build's baseline stays armv8-a, and they run only
// where int8_neon_available() (quant_int8.cpp's dispatch). GCC and clang
// spell the extension differently.
#if defined(__clang__)
#define MLXS_DOTPROD __attribute__((target("dotprod")))
#else
#define MLXS_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#endif

namespace mlxs::backend::cpu::kernels {
namespace {

#if defined(__aarch64__)

constexpr std::int64_t kBlock = 32;
constexpr std::int64_t kChunkBlocks = 4;  // a chunk: 128 columns

// acc + the dot products of a and b's 4-byte groups, one per 32-bit lane.
// GCC's arm_neon.h declares vdotq_s32 for functions compiled for the
// extension; clang's (14 at least) only where the whole file is, so there
// it is the instruction itself.
MLXS_DOTPROD inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD)
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
#else
  return vdotq_s32(acc, a, b);
#endif
}

// 16-bit params (4 lanes) to f32: a bf16 is the top half of an f32, an f16
// one FCVTL (base Armv8).
template <ParamType P>
MLXS_DOTPROD inline float32x4_t widen4(uint16x4_t h) {
  if constexpr (P == ParamType::kF16) {
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
  } else {
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
  }
}

// p[0..3] in the 4 lanes.
template <ParamType P>
MLXS_DOTPROD inline float32x4_t load4(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    return vld1q_f32(p);
  } else {
    return widen4<P>(vld1_u16(p));
  }
}

// p[0] in lanes 0-1, p[1] in lanes 2-3 (two blocks per group): two params
// loaded and each zipped with itself.
template <ParamType P>
MLXS_DOTPROD inline float32x4_t pair4(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    const float32x2_t v = vld1_f32(p);
    return vcombine_f32(vzip1_f32(v, v), vzip2_f32(v, v));
  } else {
    std::uint32_t both = 0;
    std::memcpy(&both, p, sizeof(both));
    const uint16x4_t v = vreinterpret_u16_u32(vdup_n_u32(both));  // p0 p1 p0 p1
    return widen4<P>(vzip1_u16(v, v));
  }
}

// p[0] in every lane.
template <ParamType P>
MLXS_DOTPROD inline float32x4_t broadcast4(const ParamElem<P>* p) {
  if constexpr (P == ParamType::kF32) {
    return vdupq_n_f32(*p);
  } else {
    return widen4<P>(vdup_n_u16(*p));
  }
}

// The group scale of each of the 4 blocks of chunk c.
template <int G, ParamType P>
MLXS_DOTPROD inline float32x4_t chunk_scales(const ParamElem<P>* s, std::int64_t c) {
  if constexpr (G == 32) {
    return load4<P>(s + 4 * c);
  } else if constexpr (G == 64) {
    return pair4<P>(s + 2 * c);
  } else {
    return broadcast4<P>(s + c);
  }
}

// Block blk's products with one digit of x (xn: in column order, xi: the
// interleaved layout), in 4 lanes whose sum is the block's dot product.
// 4 bits: 16 bytes, low nibbles the even columns and high nibbles the odd
// ones, against x.interleaved's 16 even and 16 odd digits; codes 0..15 are
// already valid s8. 8 bits: 32 bytes, centred by flipping the top bit.
template <int Bits>
MLXS_DOTPROD inline int32x4_t block_digit(const std::uint8_t* codes, const std::int8_t* xn,
                                          const std::int8_t* xi, std::int64_t blk) {
  const int32x4_t zero = vdupq_n_s32(0);
  if constexpr (Bits == 4) {
    const uint8x16_t v = vld1q_u8(codes + blk * 16);
    const int8x16_t even = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
    const int8x16_t odd = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
    const std::int8_t* at = xi + (blk / 4) * 128 + (blk % 4) * 16;
    return sdot(sdot(zero, even, vld1q_s8(at)), odd, vld1q_s8(at + 64));
  } else {
    const uint8x16_t top = vdupq_n_u8(0x80);
    const int8x16_t q0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(codes + blk * 32), top));
    const int8x16_t q1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(codes + blk * 32 + 16), top));
    const std::int8_t* at = xn + blk * kBlock;
    return sdot(sdot(zero, q0, vld1q_s8(at)), q1, vld1q_s8(at + 16));
  }
}

// Both digits when Digits is 2: 256 · (q · hi) + q · lo per lane, within
// int32 (|q| ≤ 128 centred or 15, · 127 · 32 · 257 < 2^31).
template <int Bits, int Digits>
MLXS_DOTPROD inline int32x4_t block_dot(const std::uint8_t* codes, const Int8Row& x,
                                        std::int64_t blk) {
  const int32x4_t hi = block_digit<Bits>(codes, x.natural[0], x.interleaved[0], blk);
  if constexpr (Digits == 1) {
    return hi;
  } else {
    const int32x4_t lo = block_digit<Bits>(codes, x.natural[1], x.interleaved[1], blk);
    return vaddq_s32(vshlq_n_s32(hi, 8), lo);
  }
}

// One chunk (blocks 4c..4c+3) into acc: lane i ends as block 4c + i's dot
// product, times dx of the block (dx / 256 with two digits) and its scale.
template <int Bits, int Digits, int G, ParamType P>
MLXS_DOTPROD inline float32x4_t chunk(const std::uint8_t* codes, const ParamElem<P>* s,
                                      const Int8Row& x, const float* dx, std::int64_t c,
                                      float32x4_t acc) {
  const std::int64_t blk = c * kChunkBlocks;
  const int32x4_t d01 = vpaddq_s32(block_dot<Bits, Digits>(codes, x, blk),
                                   block_dot<Bits, Digits>(codes, x, blk + 1));
  const int32x4_t d23 = vpaddq_s32(block_dot<Bits, Digits>(codes, x, blk + 2),
                                   block_dot<Bits, Digits>(codes, x, blk + 3));
  const float32x4_t t = vmulq_f32(vcvtq_f32_s32(vpaddq_s32(d01, d23)), vld1q_f32(dx + blk));
  return vfmaq_f32(acc, t, chunk_scales<G, P>(s, c));
}

// sum_g bias_g · sum(x_g) + c · scale_g · t_g of row n, in lanes: t is
// Int8Row::lost for the uncentred 4-bit products, the sums themselves for
// the centred 8-bit ones (quant_int8_neon.h).
template <ParamType P>
MLXS_DOTPROD inline float32x4_t group_terms(const QuantMatrix& w, std::int64_t n, const Int8Row& x,
                                            const float* t, float c) {
  const ParamElem<P>* b = param_ptr<P>(w.biases, n * w.groups_per_row);
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  const float* sums = x.sums(w.group);
  float32x4_t bias = vdupq_n_f32(0.0f);
  float32x4_t centring = vdupq_n_f32(0.0f);
  std::int64_t g = 0;
  for (; g + 4 <= w.groups_per_row; g += 4) {
    bias = vfmaq_f32(bias, load4<P>(b + g), vld1q_f32(sums + g));
    centring = vfmaq_f32(centring, load4<P>(s + g), vld1q_f32(t + g));
  }
  float rest = 0.0f;  // fewer than 4 groups left
  for (; g < w.groups_per_row; ++g) {
    rest += w.param(b, g) * sums[g] + c * w.param(s, g) * t[g];
  }
  const float32x4_t lanes = vfmaq_n_f32(bias, centring, c);
  return vsetq_lane_f32(vgetq_lane_f32(lanes, 0) + rest, lanes, 0);
}

// One row: whole chunks, then any lone blocks. One accumulator: a chunk is
// 8 SDOTs and their loads before its one FMA, so the FMA's latency is not
// the bound it is in the VNNI loop (3 instructions a chunk there), and two
// chunks in flight would take more than NEON's 32 registers (8-bit: 16 code
// and input vectors each) and spill.
template <int Bits, int Digits, int G, ParamType P>
MLXS_DOTPROD float row(const QuantMatrix& w, std::int64_t n, const Int8Row& x) {
  constexpr std::int64_t kChunkBytes = kChunkBlocks * kBlock * Bits / 8;
  const std::int64_t blocks = w.K / kBlock;
  const std::int64_t chunks = blocks / kChunkBlocks;
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const ParamElem<P>* s = param_ptr<P>(w.scales, n * w.groups_per_row);
  const float* dx = Digits == 1 ? x.block_scale : x.block_scale_256;
  const float* t = Bits == 4 ? x.lost(w.group) : x.sums(w.group);
  float32x4_t acc = group_terms<P>(w, n, x, t, Bits == 4 ? 8.0f : 128.0f);
  for (std::int64_t c = 0; c < chunks; ++c) {
    for (std::int64_t at = 0; at < kChunkBytes; at += 64) {
      prefetch_ahead(codes + c * kChunkBytes + at);
    }
    acc = chunk<Bits, Digits, G, P>(codes, s, x, dx, c, acc);
  }
  float tail = 0.0f;
  for (std::int64_t blk = chunks * kChunkBlocks; blk < blocks; ++blk) {
    const auto dot = static_cast<float>(vaddvq_s32(block_dot<Bits, Digits>(codes, x, blk)));
    tail += w.scale(n * w.groups_per_row + blk * kBlock / G) * dx[blk] * dot;
  }
  return vaddvq_f32(acc) + tail;
}

template <int Digits, int G, ParamType P>
MLXS_DOTPROD void rows(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                       const float* bias, float* y) {
  for (std::int64_t n = n0; n < n1; ++n) {
    const float dot = w.bits == 4 ? row<4, Digits, G, P>(w, n, x) : row<8, Digits, G, P>(w, n, x);
    y[n] = (bias != nullptr ? bias[n] : 0.0f) + dot;
  }
}

// 16 digits from 16 int32 lanes (4 vectors), saturated to int8.
inline int8x16_t narrow16(const int32x4_t* v) {
  const int16x8_t a = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
  const int16x8_t b = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
  return vcombine_s8(vqmovn_s16(a), vqmovn_s16(b));
}

// Block blk's 32 digits in both layouts (quant_int8.h's Int8Row).
inline void store_digits(std::int8_t* natural, std::int8_t* interleaved, std::int64_t blk,
                         const int32x4_t* v) {
  const int8x16_t first = narrow16(v);
  const int8x16_t second = narrow16(v + 4);
  vst1q_s8(natural + blk * kBlock, first);
  vst1q_s8(natural + blk * kBlock + 16, second);
  std::int8_t* at = interleaved + (blk / 4) * 128 + (blk % 4) * 16;
  vst1q_s8(at, vuzp1q_s8(first, second));       // even columns
  vst1q_s8(at + 64, vuzp2q_s8(first, second));  // odd columns
}

// Sum of 8 vectors of int32 lanes.
inline std::int32_t sum8(const int32x4_t* v) {
  int32x4_t s = v[0];
  for (int i = 1; i < 8; ++i) s = vaddq_s32(s, v[i]);
  return vaddvq_s32(s);
}

#endif  // __aarch64__

}  // namespace

bool int8_neon_available() {
#if defined(__aarch64__)
  static const bool available = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
  return available;
#else
  return false;
#endif
}

void quantize_row_int8_neon(const float* x, std::int64_t K, const Int8Row& out) {
#if defined(__aarch64__)
  for (std::int64_t blk = 0; blk < K / kBlock; ++blk) {
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(x + blk * kBlock + 4 * i);
    float32x4_t amax4 = vabsq_f32(v[0]);
    float32x4_t sum4 = v[0];
    for (int i = 1; i < 8; ++i) {
      amax4 = vmaxq_f32(amax4, vabsq_f32(v[i]));
      sum4 = vaddq_f32(sum4, v[i]);
    }
    const float amax = vmaxvq_f32(amax4);
    const float sum = vaddvq_f32(sum4);
    const float dx = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    out.block_scale[blk] = dx;
    out.block_scale_256[blk] = dx / 256.0f;
    out.sum32[blk] = sum;
    // FCVTNS rounds to nearest even, as quantize_scalar's nearbyint does;
    // |t| ≤ 127 by construction.
    float32x4_t t[8];
    int32x4_t hi[8];
    for (int i = 0; i < 8; ++i) {
      t[i] = vmulq_n_f32(v[i], inv);
      hi[i] = vcvtnq_s32_f32(t[i]);
    }
    store_digits(out.natural[0], out.interleaved[0], blk, hi);
    const auto hsum = static_cast<float>(sum8(hi));
    if (out.single) {
      out.lost32[blk] = sum - dx * hsum;
      continue;
    }
    // The remainder in 1/256 steps; +128 is held to 127 as the scalar path does.
    int32x4_t lo[8];
    for (int i = 0; i < 8; ++i) {
      const float32x4_t r = vmulq_n_f32(vsubq_f32(t[i], vcvtq_f32_s32(hi[i])), 256.0f);
      lo[i] = vminq_s32(vcvtnq_s32_f32(r), vdupq_n_s32(127));
    }
    store_digits(out.natural[1], out.interleaved[1], blk, lo);
    out.lost32[blk] = sum - dx * (hsum + static_cast<float>(sum8(lo)) / 256.0f);
  }
#else
  (void)x, (void)K, (void)out;
#endif
}

void int8_rows_neon(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                    const float* bias, float* y) {
#if defined(__aarch64__)
  with_kernel_params(w, [&](auto g, auto p) {
    constexpr int kG = decltype(g)::value;
    constexpr ParamType kP = decltype(p)::value;
    if (x.single) {
      rows<1, kG, kP>(w, x, n0, n1, bias, y);
    } else {
      rows<2, kG, kP>(w, x, n0, n1, bias, y);
    }
  });
#else
  (void)w, (void)x, (void)n0, (void)n1, (void)bias, (void)y;
#endif
}

}  // namespace mlxs::backend::cpu::kernels
