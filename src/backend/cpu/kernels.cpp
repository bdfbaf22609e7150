// Per-target kernel bodies: Highway compiles this file once for each enabled
// instruction set (foreach_target.h re-includes it) and HWY_DYNAMIC_DISPATCH
// picks the best at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/kernels.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "core/half.h"

HWY_BEFORE_NAMESPACE();
namespace mlxs::backend::cpu::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using VF = hn::Vec<DF>;

// Register tiles: MR input rows x NR weight rows of accumulators. Targets with
// 32 vector registers (AVX-512, NEON) hold 4x4; AVX2/SSE have 16.
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3 || \
    HWY_TARGET == HWY_SCALAR
constexpr int kMR = 2;
#else
constexpr int kMR = 4;
#endif
constexpr int kNR = 4;
constexpr int kNRSingle = 8;  // weight rows per tile when only one input row

// ---- weight widening policies: each loads part of a 32-element block ------

struct WeightF32 {
  using T = float;
  static constexpr bool kReordered = false;
  // Loads lanes [h, h + L) of the block starting at w.
  static HWY_INLINE VF Load(DF df, const T* HWY_RESTRICT w, size_t h) {
    return hn::LoadU(df, w + h);
  }
  static HWY_INLINE float Scalar(const T* w, std::int64_t k) { return w[k]; }
};

struct WeightF16 {
  using T = std::uint16_t;
  static constexpr bool kReordered = false;
  static HWY_INLINE VF Load(DF df, const T* HWY_RESTRICT w, size_t h) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(w + h)));
  }
  static HWY_INLINE float Scalar(const T* w, std::int64_t k) { return core::f16_to_f32(w[k]); }
};

struct WeightBF16 {
  using T = std::uint16_t;
  static constexpr bool kReordered = true;
  static HWY_INLINE float Scalar(const T* w, std::int64_t k) { return core::bf16_to_f32(w[k]); }
};

// Accumulates MR x NR dot products over `blocks` full 32-element blocks, then
// the scalar tail, and returns the sums.
template <class W, int MR, int NR>
HWY_INLINE void Tile(const float* HWY_RESTRICT x, std::int64_t ldx,
                     const typename W::T* HWY_RESTRICT w, std::int64_t ldw, std::int64_t k_begin,
                     std::int64_t blocks, std::int64_t tail, float sums[MR][NR]) {
  const DF df;
  const size_t L = hn::Lanes(df);
  VF acc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) acc[i][j] = hn::Zero(df);
  }
  const float* xb = x + k_begin;
  const typename W::T* wb = w + k_begin;
  if constexpr (W::kReordered) {
    const DU du;
    const auto high_mask = hn::Set(du, 0xFFFF0000u);
    for (std::int64_t b = 0; b < blocks; ++b) {
      for (size_t h = 0; h < 16; h += L) {
        VF xe[MR];
        VF xo[MR];
        for (int i = 0; i < MR; ++i) {
          xe[i] = hn::LoadU(df, xb + i * ldx + h);
          xo[i] = hn::LoadU(df, xb + i * ldx + 16 + h);
        }
        for (int j = 0; j < NR; ++j) {
          const auto pairs =
              hn::LoadU(du, reinterpret_cast<const std::uint32_t*>(wb + j * ldw + 2 * h));
          const VF we = hn::BitCast(df, hn::ShiftLeft<16>(pairs));
          const VF wo = hn::BitCast(df, hn::And(pairs, high_mask));
          for (int i = 0; i < MR; ++i) {
            acc[i][j] = hn::MulAdd(we, xe[i], acc[i][j]);
            acc[i][j] = hn::MulAdd(wo, xo[i], acc[i][j]);
          }
        }
      }
      xb += kLinearBlock;
      wb += kLinearBlock;
    }
  } else {
    for (std::int64_t b = 0; b < blocks; ++b) {
      for (size_t h = 0; h < static_cast<size_t>(kLinearBlock); h += L) {
        VF xv[MR];
        for (int i = 0; i < MR; ++i) xv[i] = hn::LoadU(df, xb + i * ldx + h);
        for (int j = 0; j < NR; ++j) {
          const VF wv = W::Load(df, wb + j * ldw, h);
          for (int i = 0; i < MR; ++i) acc[i][j] = hn::MulAdd(wv, xv[i], acc[i][j]);
        }
      }
      xb += kLinearBlock;
      wb += kLinearBlock;
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      float s = hn::GetLane(hn::SumOfLanes(df, acc[i][j]));
      for (std::int64_t k = 0; k < tail; ++k) {
        s += xb[i * ldx + k] * W::Scalar(wb + j * ldw, k);
      }
      sums[i][j] = s;
    }
  }
}

template <class W, int MR, int NR>
HWY_INLINE void TileStore(const float* x, std::int64_t ldx, const typename W::T* w,
                          std::int64_t ldw, std::int64_t k_begin, std::int64_t blocks,
                          std::int64_t tail, bool first, const float* bias, float* y,
                          std::int64_t ldy) {
  float sums[MR][NR];
  Tile<W, MR, NR>(x, ldx, w, ldw, k_begin, blocks, tail, sums);
  for (int i = 0; i < MR; ++i) {
    float* row = y + i * ldy;
    for (int j = 0; j < NR; ++j) {
      const float base = first ? (bias != nullptr ? bias[j] : 0.0f) : row[j];
      row[j] = base + sums[i][j];
    }
  }
}

// One input row against one weight row, as a single sequential stream with
// four independent accumulators. Best when x fits in L1 next to the stream.
template <class W>
HWY_INLINE float RowDot(const float* HWY_RESTRICT x, const typename W::T* HWY_RESTRICT w,
                        std::int64_t K) {
  const DF df;
  const size_t L = hn::Lanes(df);
  VF acc[4] = {hn::Zero(df), hn::Zero(df), hn::Zero(df), hn::Zero(df)};
  const std::int64_t blocks = K / kLinearBlock;
  std::int64_t b = 0;
  auto block = [&](std::int64_t blk, VF& a, VF& c) {
    const float* xb = x + blk * kLinearBlock;
    const typename W::T* wb = w + blk * kLinearBlock;
    if constexpr (W::kReordered) {
      const DU du;
      const auto high_mask = hn::Set(du, 0xFFFF0000u);
      for (size_t h = 0; h < 16; h += L) {
        const auto pairs = hn::LoadU(du, reinterpret_cast<const std::uint32_t*>(wb + 2 * h));
        a = hn::MulAdd(hn::BitCast(df, hn::ShiftLeft<16>(pairs)), hn::LoadU(df, xb + h), a);
        c = hn::MulAdd(hn::BitCast(df, hn::And(pairs, high_mask)), hn::LoadU(df, xb + 16 + h), c);
      }
    } else {
      for (size_t h = 0; h < static_cast<size_t>(kLinearBlock); h += 2 * L) {
        a = hn::MulAdd(W::Load(df, wb, h), hn::LoadU(df, xb + h), a);
        c = hn::MulAdd(W::Load(df, wb, h + L), hn::LoadU(df, xb + h + L), c);
      }
    }
  };
  for (; b + 2 <= blocks; b += 2) {
    block(b, acc[0], acc[1]);
    block(b + 1, acc[2], acc[3]);
  }
  if (b < blocks) block(b, acc[0], acc[1]);
  float s =
      hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(acc[0], acc[1]), hn::Add(acc[2], acc[3]))));
  for (std::int64_t k = blocks * kLinearBlock; k < K; ++k) s += x[k] * W::Scalar(w, k);
  return s;
}

// Widest input a single-row stream handles best: beyond it x no longer stays
// in L1 beside the weight stream and interleaved row tiles win (measured on
// Zen 4: 28 GB/s vs 23 GB/s at K = 2048, 13 GB/s vs 24 GB/s at K = 8192).
constexpr std::int64_t kRowStreamMaxK = 3072;

template <class W>
void LinearT(const float* HWY_RESTRICT xprep, std::int64_t M, std::int64_t K, const void* wv,
             std::int64_t n0, std::int64_t n1, const float* bias, float* y, std::int64_t ldy) {
  const auto* w = static_cast<const typename W::T*>(wv);
  if (M == 1 && K <= kRowStreamMaxK) {
    for (std::int64_t n = n0; n < n1; ++n) {
      y[n] = (bias != nullptr ? bias[n] : 0.0f) + RowDot<W>(xprep, w + n * K, K);
    }
    return;
  }
  // Decode-sized inputs take all of K at once; prefill blocks K so a panel of
  // inputs stays in L2 while every weight tile of this thread passes over it.
  const std::int64_t kc_max = M <= 8 ? K : 1024;
  const std::int64_t mc = 64;
  for (std::int64_t k0 = 0; k0 < K; k0 += kc_max) {
    const std::int64_t kc = std::min(kc_max, K - k0);
    const bool last_k = k0 + kc == K;
    // Only the last chunk can end in a partial block (chunks are 1024 wide).
    const std::int64_t blocks = kc / kLinearBlock;
    const std::int64_t tail = last_k ? kc - blocks * kLinearBlock : 0;
    const bool first = k0 == 0;
    for (std::int64_t m0 = 0; m0 < M; m0 += mc) {
      const std::int64_t m1 = std::min(M, m0 + mc);
      if (M == 1) {
        std::int64_t n = n0;
        for (; n + kNRSingle <= n1; n += kNRSingle) {
          TileStore<W, 1, kNRSingle>(xprep, K, w + n * K, K, k0, blocks, tail, first,
                                     bias != nullptr ? bias + n : nullptr, y + n, ldy);
        }
        for (; n < n1; ++n) {
          TileStore<W, 1, 1>(xprep, K, w + n * K, K, k0, blocks, tail, first,
                             bias != nullptr ? bias + n : nullptr, y + n, ldy);
        }
        continue;
      }
      for (std::int64_t n = n0; n < n1; n += kNR) {
        const bool full_n = n + kNR <= n1;
        const float* b = bias != nullptr ? bias + n : nullptr;
        std::int64_t m = m0;
        for (; m + kMR <= m1; m += kMR) {
          const float* xm = xprep + m * K;
          float* ym = y + m * ldy + n;
          if (full_n) {
            TileStore<W, kMR, kNR>(xm, K, w + n * K, K, k0, blocks, tail, first, b, ym, ldy);
          } else {
            for (std::int64_t j = n; j < n1; ++j) {
              TileStore<W, kMR, 1>(xm, K, w + j * K, K, k0, blocks, tail, first,
                                   bias != nullptr ? bias + j : nullptr, ym + (j - n), ldy);
            }
          }
        }
        for (; m < m1; ++m) {
          const float* xm = xprep + m * K;
          float* ym = y + m * ldy + n;
          if (full_n) {
            TileStore<W, 1, kNR>(xm, K, w + n * K, K, k0, blocks, tail, first, b, ym, ldy);
          } else {
            for (std::int64_t j = n; j < n1; ++j) {
              TileStore<W, 1, 1>(xm, K, w + j * K, K, k0, blocks, tail, first,
                                 bias != nullptr ? bias + j : nullptr, ym + (j - n), ldy);
            }
          }
        }
      }
    }
  }
}

void LinearF32(const float* x, std::int64_t M, std::int64_t K, const void* w, std::int64_t n0,
               std::int64_t n1, const float* bias, float* y, std::int64_t ldy) {
  LinearT<WeightF32>(x, M, K, w, n0, n1, bias, y, ldy);
}
void LinearF16(const float* x, std::int64_t M, std::int64_t K, const void* w, std::int64_t n0,
               std::int64_t n1, const float* bias, float* y, std::int64_t ldy) {
  LinearT<WeightF16>(x, M, K, w, n0, n1, bias, y, ldy);
}
void LinearBF16(const float* x, std::int64_t M, std::int64_t K, const void* w, std::int64_t n0,
                std::int64_t n1, const float* bias, float* y, std::int64_t ldy) {
  LinearT<WeightBF16>(x, M, K, w, n0, n1, bias, y, ldy);
}

// ---- element-wise and reductions -------------------------------------------

float DotImpl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  VF s0 = hn::Zero(df), s1 = hn::Zero(df);
  std::int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + L), hn::LoadU(df, b + i + L), s1);
  }
  for (; i + L <= n; i += L) s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void AxpyImpl(float a, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  const VF va = hn::Set(df, a);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

void ScaleImpl(float* HWY_RESTRICT x, float s, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  const VF vs = hn::Set(df, s);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vs), df, x + i);
  for (; i < n; ++i) x[i] *= s;
}

void AddImpl(float* HWY_RESTRICT x, const float* HWY_RESTRICT y, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    hn::StoreU(hn::Add(hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, x + i);
  }
  for (; i < n; ++i) x[i] += y[i];
}

float MaxImpl(const float* HWY_RESTRICT x, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  float m = -INFINITY;
  std::int64_t i = 0;
  if (n >= L) {
    VF vm = hn::LoadU(df, x);
    for (i = L; i + L <= n; i += L) vm = hn::Max(vm, hn::LoadU(df, x + i));
    m = hn::GetLane(hn::MaxOfLanes(df, vm));
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

float ExpSubSumImpl(float* HWY_RESTRICT x, float max, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  const VF vmax = hn::Set(df, max);
  VF vsum = hn::Zero(df);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    const VF e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    hn::StoreU(e, df, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  return sum;
}

void SoftcapImpl(float* HWY_RESTRICT x, float cap, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  const VF vcap = hn::Set(df, cap);
  const VF vinv = hn::Set(df, 1.0f / cap);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    const VF t = hn::Tanh(df, hn::Mul(hn::LoadU(df, x + i), vinv));
    hn::StoreU(hn::Mul(t, vcap), df, x + i);
  }
  for (; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void RmsNormImpl(const float* HWY_RESTRICT x, const float* HWY_RESTRICT w, float eps, float offset,
                 float* HWY_RESTRICT out, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  VF s0 = hn::Zero(df);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    const VF v = hn::LoadU(df, x + i);
    s0 = hn::MulAdd(v, v, s0);
  }
  double ss = hn::GetLane(hn::SumOfLanes(df, s0));
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  const VF vinv = hn::Set(df, inv);
  const VF voff = hn::Set(df, offset);
  for (i = 0; i + L <= n; i += L) {
    const VF scaled = hn::Mul(hn::LoadU(df, x + i), vinv);
    hn::StoreU(hn::Mul(scaled, hn::Add(hn::LoadU(df, w + i), voff)), df, out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * inv * (w[i] + offset);
}

void SiluMulImpl(const float* HWY_RESTRICT g, const float* HWY_RESTRICT u, float* HWY_RESTRICT out,
                 std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  const VF one = hn::Set(df, 1.0f);
  const VF lim = hn::Set(df, 88.0f);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    const VF x = hn::LoadU(df, g + i);
    const VF e = hn::Exp(df, hn::Min(hn::Neg(x), lim));
    hn::StoreU(hn::Mul(hn::Div(x, hn::Add(one, e)), hn::LoadU(df, u + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void GeluTanhMulImpl(const float* HWY_RESTRICT g, const float* HWY_RESTRICT u,
                     float* HWY_RESTRICT out, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  constexpr float kC = 0.7978845608028654f;  // sqrt(2 / pi)
  const VF c = hn::Set(df, kC);
  const VF c3 = hn::Set(df, 0.044715f);
  const VF half = hn::Set(df, 0.5f);
  const VF one = hn::Set(df, 1.0f);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    const VF x = hn::LoadU(df, g + i);
    const VF inner = hn::Mul(c, hn::MulAdd(hn::Mul(c3, x), hn::Mul(x, x), x));
    const VF t = hn::Tanh(df, inner);
    const VF gelu = hn::Mul(hn::Mul(half, x), hn::Add(one, t));
    hn::StoreU(hn::Mul(gelu, hn::LoadU(df, u + i)), df, out + i);
  }
  for (; i < n; ++i) {
    const float x = g[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(kC * (x + 0.044715f * x * x * x))) * u[i];
  }
}

float StreamSumImpl(const float* HWY_RESTRICT x, std::int64_t n) {
  const DF df;
  const std::int64_t L = static_cast<std::int64_t>(hn::Lanes(df));
  VF a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  std::int64_t i = 0;
  for (; i + 8 * L <= n; i += 8 * L) {
    a0 = hn::Add(a0, hn::LoadU(df, x + i));
    a1 = hn::Add(a1, hn::LoadU(df, x + i + L));
    a2 = hn::Add(a2, hn::LoadU(df, x + i + 2 * L));
    a3 = hn::Add(a3, hn::LoadU(df, x + i + 3 * L));
    a4 = hn::Add(a4, hn::LoadU(df, x + i + 4 * L));
    a5 = hn::Add(a5, hn::LoadU(df, x + i + 5 * L));
    a6 = hn::Add(a6, hn::LoadU(df, x + i + 6 * L));
    a7 = hn::Add(a7, hn::LoadU(df, x + i + 7 * L));
  }
  const VF s =
      hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)));
  float total = hn::GetLane(hn::SumOfLanes(df, s));
  for (; i < n; ++i) total += x[i];
  return total;
}

const char* TargetNameImpl() {
  return hwy::TargetName(HWY_TARGET);
}

}  // namespace HWY_NAMESPACE
}  // namespace mlxs::backend::cpu::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mlxs::backend::cpu::kernels {

HWY_EXPORT(LinearF32);
HWY_EXPORT(LinearF16);
HWY_EXPORT(LinearBF16);
HWY_EXPORT(DotImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(MaxImpl);
HWY_EXPORT(ExpSubSumImpl);
HWY_EXPORT(SoftcapImpl);
HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(SiluMulImpl);
HWY_EXPORT(GeluTanhMulImpl);
HWY_EXPORT(TargetNameImpl);
HWY_EXPORT(StreamSumImpl);

void prepare_linear_input(DType wtype, const float* x, std::int64_t M, std::int64_t K, float* out) {
  const std::int64_t blocks = K / kLinearBlock;
  for (std::int64_t m = 0; m < M; ++m) {
    const float* src = x + m * K;
    float* dst = out + m * K;
    if (wtype != DType::kBF16) {
      std::memcpy(dst, src, static_cast<std::size_t>(K) * sizeof(float));
      continue;
    }
    for (std::int64_t b = 0; b < blocks; ++b) {
      const float* s = src + b * kLinearBlock;
      float* d = dst + b * kLinearBlock;
      for (int i = 0; i < 16; ++i) {
        d[i] = s[2 * i];
        d[16 + i] = s[2 * i + 1];
      }
    }
    for (std::int64_t k = blocks * kLinearBlock; k < K; ++k) dst[k] = src[k];
  }
}

void linear_rows(DType wtype, const float* xprep, std::int64_t M, std::int64_t K, const void* w,
                 std::int64_t n0, std::int64_t n1, const float* bias, float* y, std::int64_t ldy) {
  switch (wtype) {
    case DType::kF32:
      HWY_DYNAMIC_DISPATCH(LinearF32)(xprep, M, K, w, n0, n1, bias, y, ldy);
      return;
    case DType::kF16:
      HWY_DYNAMIC_DISPATCH(LinearF16)(xprep, M, K, w, n0, n1, bias, y, ldy);
      return;
    case DType::kBF16:
      HWY_DYNAMIC_DISPATCH(LinearBF16)(xprep, M, K, w, n0, n1, bias, y, ldy);
      return;
    case DType::kF64:
    case DType::kF8E4M3:
    case DType::kI8:
    case DType::kU8:
    case DType::kI16:
    case DType::kI32:
    case DType::kU32:
    case DType::kI64:
    case DType::kBool:
      break;
  }
  // The backend imports only the three float types above for linear weights.
  std::abort();
}

float dot(const float* a, const float* b, std::int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n);
}
void axpy(float a, const float* x, float* y, std::int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyImpl)(a, x, y, n);
}
void scale(float* x, float s, std::int64_t n) {
  HWY_DYNAMIC_DISPATCH(ScaleImpl)(x, s, n);
}
void add(float* x, const float* y, std::int64_t n) {
  HWY_DYNAMIC_DISPATCH(AddImpl)(x, y, n);
}
float max_of(const float* x, std::int64_t n) {
  return HWY_DYNAMIC_DISPATCH(MaxImpl)(x, n);
}
float exp_sub_sum(float* x, float max, std::int64_t n) {
  return HWY_DYNAMIC_DISPATCH(ExpSubSumImpl)(x, max, n);
}
void softcap(float* x, float cap, std::int64_t n) {
  HWY_DYNAMIC_DISPATCH(SoftcapImpl)(x, cap, n);
}
void rms_norm(const float* x, const float* w, float eps, float offset, float* out, std::int64_t n) {
  HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, w, eps, offset, out, n);
}
void silu_mul(const float* gate, const float* up, float* out, std::int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMulImpl)(gate, up, out, n);
}
void gelu_tanh_mul(const float* gate, const float* up, float* out, std::int64_t n) {
  HWY_DYNAMIC_DISPATCH(GeluTanhMulImpl)(gate, up, out, n);
}

void to_f32(DType type, const void* src, float* dst, std::int64_t n) {
  if (type == DType::kF32) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
  } else if (type == DType::kBF16) {
    const auto* s = static_cast<const std::uint16_t*>(src);
    for (std::int64_t i = 0; i < n; ++i) dst[i] = core::bf16_to_f32(s[i]);
  } else if (type == DType::kF16) {
    const auto* s = static_cast<const std::uint16_t*>(src);
    for (std::int64_t i = 0; i < n; ++i) dst[i] = core::f16_to_f32(s[i]);
  } else {
    std::abort();  // callers check the dtype at load
  }
}

float stream_sum(const float* x, std::int64_t n) {
  return HWY_DYNAMIC_DISPATCH(StreamSumImpl)(x, n);
}

std::string target_name() {
  return HWY_DYNAMIC_DISPATCH(TargetNameImpl)();
}

}  // namespace mlxs::backend::cpu::kernels
#endif  // HWY_ONCE
