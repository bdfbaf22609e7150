// Quantized linear kernels, compiled once per instruction set like
// kernels.cpp (Highway re-includes this file per target).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/quant_kernels.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/quant_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mlxs::backend::cpu::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using DI = hn::RebindToSigned<DF>;
using D8 = hn::Rebind<std::uint8_t, DF>;
using VF = hn::Vec<DF>;
using tensor::QuantFormat;

// ---- widening: L codes to L floats -----------------------------------------

HWY_INLINE VF Widen8(DF df, const std::uint8_t* HWY_RESTRICT p) {
  const DU du;
  const D8 d8;
  const DI di;
  return hn::ConvertTo(df, hn::BitCast(di, hn::PromoteTo(du, hn::LoadU(d8, p))));
}

// L bytes of 4-bit codes: the low nibbles are the even columns, the high
// nibbles the odd ones (value k sits at bits [4k, 4k + 4) of the row).
HWY_INLINE void Widen4(DF df, const std::uint8_t* HWY_RESTRICT p, VF& even, VF& odd) {
  const DU du;
  const D8 d8;
  const DI di;
  const auto v = hn::PromoteTo(du, hn::LoadU(d8, p));
  even = hn::ConvertTo(df, hn::BitCast(di, hn::And(v, hn::Set(du, 0xFu))));
  odd = hn::ConvertTo(df, hn::BitCast(di, hn::ShiftRight<4>(v)));
}

// e4m3 to f32 exactly: sign to bit 31, exponent and mantissa to the top of
// f32's fields, then ·2^120 re-biases the exponent (7 → 127); subnormal codes
// become f32 subnormals and scale the same way.
HWY_INLINE VF WidenE4m3(DF df, const std::uint8_t* HWY_RESTRICT p) {
  const DU du;
  const D8 d8;
  const auto v = hn::PromoteTo(du, hn::LoadU(d8, p));
  const auto bits = hn::Or(hn::ShiftLeft<24>(hn::And(v, hn::Set(du, 0x80u))),
                           hn::ShiftLeft<20>(hn::And(v, hn::Set(du, 0x7Fu))));
  return hn::Mul(hn::BitCast(df, bits), hn::Set(df, 0x1p120f));
}

HWY_INLINE float Sum(DF df, VF v) {
  return hn::GetLane(hn::SumOfLanes(df, v));
}

// ---- one input row against one weight row -----------------------------------

// Affine: sum_g scale_g · (q_g · x_g) + bias_g · sum(x_g). `block(blk, codes,
// t0, t1)` accumulates one 32-column block's q · x into t0 and t1.
template <class BlockDot>
HWY_INLINE float RowAffine(const QuantMatrix& w, std::int64_t n, const float* HWY_RESTRICT xsum,
                           BlockDot&& block) {
  const DF df;
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const std::int64_t g0 = n * w.groups_per_row;
  const std::int64_t per_group = w.group / kLinearBlock;
  VF acc[2] = {hn::Zero(df), hn::Zero(df)};
  float bias_sum = 0.0f;
  for (std::int64_t g = 0; g < w.groups_per_row; ++g) {
    VF t0 = hn::Zero(df);
    VF t1 = hn::Zero(df);
    float xs = 0.0f;
    for (std::int64_t blk = g * per_group; blk < (g + 1) * per_group; ++blk) {
      block(blk, codes, t0, t1);
      xs += xsum[blk];
    }
    acc[g & 1] = hn::MulAdd(hn::Set(df, w.scale(g0 + g)), hn::Add(t0, t1), acc[g & 1]);
    bias_sum += w.bias(g0 + g) * xs;
  }
  return Sum(df, hn::Add(acc[0], acc[1])) + bias_sum;
}

// 4 bits: x in the reordered block layout (even columns, then odd).
float RowQ4(const QuantMatrix& w, std::int64_t n, const float* HWY_RESTRICT xr,
            const float* HWY_RESTRICT xsum) {
  const DF df;
  const size_t L = hn::Lanes(df);
  return RowAffine(w, n, xsum, [&](std::int64_t blk, const std::uint8_t* codes, VF& te, VF& to) {
    const std::uint8_t* cb = codes + blk * (kLinearBlock / 2);
    const float* xb = xr + blk * kLinearBlock;
    for (size_t h = 0; h < 16; h += L) {
      VF e;
      VF o;
      Widen4(df, cb + h, e, o);
      te = hn::MulAdd(e, hn::LoadU(df, xb + h), te);
      to = hn::MulAdd(o, hn::LoadU(df, xb + 16 + h), to);
    }
  });
}

float RowQ8(const QuantMatrix& w, std::int64_t n, const float* HWY_RESTRICT x,
            const float* HWY_RESTRICT xsum) {
  const DF df;
  const size_t L = hn::Lanes(df);
  return RowAffine(w, n, xsum, [&](std::int64_t blk, const std::uint8_t* codes, VF& t0, VF& t1) {
    const std::uint8_t* cb = codes + blk * kLinearBlock;
    const float* xb = x + blk * kLinearBlock;
    for (size_t h = 0; h < static_cast<size_t>(kLinearBlock); h += 2 * L) {
      t0 = hn::MulAdd(Widen8(df, cb + h), hn::LoadU(df, xb + h), t0);
      t1 = hn::MulAdd(Widen8(df, cb + h + L), hn::LoadU(df, xb + h + L), t1);
    }
  });
}

// 2, 3, 5 and 6 bits: codes straddle bytes; read them one at a time.
float RowAffineAnyBits(const QuantMatrix& w, std::int64_t n, const float* x) {
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const std::int64_t g0 = n * w.groups_per_row;
  float total = 0.0f;
  for (std::int64_t g = 0; g < w.groups_per_row; ++g) {
    float qx = 0.0f;
    float xs = 0.0f;
    for (std::int64_t k = g * w.group; k < (g + 1) * w.group; ++k) {
      qx += static_cast<float>(tensor::affine_code(codes, w.bits, k)) * x[k];
      xs += x[k];
    }
    total += w.scale(g0 + g) * qx + w.bias(g0 + g) * xs;
  }
  return total;
}

float RowFp8(const QuantMatrix& w, std::int64_t n, const float* HWY_RESTRICT x) {
  const DF df;
  const auto L = static_cast<std::int64_t>(hn::Lanes(df));
  const std::uint8_t* codes = w.codes + n * w.row_bytes;
  const std::int64_t g0 = (n / w.block_rows) * w.groups_per_row;
  VF acc = hn::Zero(df);
  float tail = 0.0f;
  for (std::int64_t g = 0; g < w.groups_per_row; ++g) {
    const std::int64_t c1 = std::min(w.K, (g + 1) * w.group);
    std::int64_t c = g * w.group;
    VF t0 = hn::Zero(df);
    VF t1 = hn::Zero(df);
    for (; c + 2 * L <= c1; c += 2 * L) {
      t0 = hn::MulAdd(WidenE4m3(df, codes + c), hn::LoadU(df, x + c), t0);
      t1 = hn::MulAdd(WidenE4m3(df, codes + c + L), hn::LoadU(df, x + c + L), t1);
    }
    float ts = 0.0f;
    for (; c < c1; ++c) ts += tensor::e4m3_to_f32(codes[c]) * x[c];
    const float s = w.scale(g0 + g);
    acc = hn::MulAdd(hn::Set(df, s), hn::Add(t0, t1), acc);
    tail += s * ts;
  }
  return Sum(df, acc) + tail;
}

// ---- dequantized tiles ----------------------------------------------------------

void DequantizeRowsImpl(const QuantMatrix& w, std::int64_t r0, std::int64_t r1, float* out) {
  const DF df;
  const auto L = static_cast<std::int64_t>(hn::Lanes(df));
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::uint8_t* codes = w.codes + r * w.row_bytes;
    float* dst = out + (r - r0) * w.K;
    if (w.format == QuantFormat::kFp8) {
      const std::int64_t g0 = (r / w.block_rows) * w.groups_per_row;
      for (std::int64_t g = 0; g < w.groups_per_row; ++g) {
        const std::int64_t c1 = std::min(w.K, (g + 1) * w.group);
        const float s = w.scale(g0 + g);
        const VF sv = hn::Set(df, s);
        std::int64_t c = g * w.group;
        for (; c + L <= c1; c += L) {
          hn::StoreU(hn::Mul(sv, WidenE4m3(df, codes + c)), df, dst + c);
        }
        for (; c < c1; ++c) {
          dst[c] = tensor::e4m3_to_f32(codes[c]) * s;
        }
      }
      continue;
    }
    for (std::int64_t g = 0; g < w.groups_per_row; ++g) {
      const float s = w.scale(r * w.groups_per_row + g);
      const float b = w.bias(r * w.groups_per_row + g);
      const VF sv = hn::Set(df, s);
      const VF bv = hn::Set(df, b);
      const std::int64_t c0 = g * w.group;
      if (w.bits == 4) {
        // Reordered layout, like the input it will meet.
        for (std::int64_t c = c0; c < c0 + w.group; c += kLinearBlock) {
          for (std::int64_t h = 0; h < 16; h += L) {
            VF e;
            VF o;
            Widen4(df, codes + c / 2 + h, e, o);
            hn::StoreU(hn::MulAdd(sv, e, bv), df, dst + c + h);
            hn::StoreU(hn::MulAdd(sv, o, bv), df, dst + c + 16 + h);
          }
        }
      } else if (w.bits == 8) {
        for (std::int64_t c = c0; c < c0 + w.group; c += L) {
          hn::StoreU(hn::MulAdd(sv, Widen8(df, codes + c), bv), df, dst + c);
        }
      } else {
        for (std::int64_t c = c0; c < c0 + w.group; ++c) {
          dst[c] = s * static_cast<float>(tensor::affine_code(codes, w.bits, c)) + b;
        }
      }
    }
  }
}

void QuantLinearRowsImpl(const QuantMatrix& w, const float* x, const float* xr, const float* xsum,
                         std::int64_t M, std::int64_t n0, std::int64_t n1, const float* bias,
                         float* y, std::int64_t ldy, float* tile) {
  const bool affine = w.format == QuantFormat::kAffine;
  if (M == 1) {
    for (std::int64_t n = n0; n < n1; ++n) {
      float v;
      if (!affine) {
        v = RowFp8(w, n, x);
      } else if (w.bits == 4) {
        v = RowQ4(w, n, xr, xsum);
      } else if (w.bits == 8) {
        v = RowQ8(w, n, x, xsum);
      } else {
        v = RowAffineAnyBits(w, n, x);
      }
      y[n] = (bias != nullptr ? bias[n] : 0.0f) + v;
    }
    return;
  }
  const float* in = affine && w.bits == 4 ? xr : x;
  for (std::int64_t n = n0; n < n1; n += kQuantTileRows) {
    const std::int64_t rows = std::min(kQuantTileRows, n1 - n);
    DequantizeRowsImpl(w, n, n + rows, tile);
    linear_rows(tensor::DType::kF32, in, M, w.K, tile, 0, rows,
                bias != nullptr ? bias + n : nullptr, y + n, ldy);
  }
}

void BlockSumsImpl(const float* HWY_RESTRICT x, std::int64_t M, std::int64_t K,
                   float* HWY_RESTRICT out) {
  const DF df;
  const auto L = static_cast<std::int64_t>(hn::Lanes(df));
  const std::int64_t blocks = (K + kLinearBlock - 1) / kLinearBlock;
  for (std::int64_t m = 0; m < M; ++m) {
    const float* row = x + m * K;
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t c1 = std::min(K, (blk + 1) * kLinearBlock);
      std::int64_t c = blk * kLinearBlock;
      VF t = hn::Zero(df);
      for (; c + L <= c1; c += L) t = hn::Add(t, hn::LoadU(df, row + c));
      float s = Sum(df, t);
      for (; c < c1; ++c) s += row[c];
      out[m * blocks + blk] = s;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mlxs::backend::cpu::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mlxs::backend::cpu::kernels {

HWY_EXPORT(QuantLinearRowsImpl);
HWY_EXPORT(DequantizeRowsImpl);
HWY_EXPORT(BlockSumsImpl);

ParamType param_type(tensor::DType dtype) {
  if (dtype == tensor::DType::kBF16) {
    return ParamType::kBF16;
  }
  if (dtype == tensor::DType::kF16) {
    return ParamType::kF16;
  }
  return ParamType::kF32;
}

bool quant_reads_reordered(const QuantMatrix& w) {
  return w.format == tensor::QuantFormat::kAffine && w.bits == 4;
}

void block_sums(const float* x, std::int64_t M, std::int64_t K, float* out) {
  HWY_DYNAMIC_DISPATCH(BlockSumsImpl)(x, M, K, out);
}

void quant_linear_rows(const QuantMatrix& w, const float* x, const float* xr, const float* xsum,
                       std::int64_t M, std::int64_t n0, std::int64_t n1, const float* bias,
                       float* y, std::int64_t ldy, float* tile) {
  HWY_DYNAMIC_DISPATCH(QuantLinearRowsImpl)(w, x, xr, xsum, M, n0, n1, bias, y, ldy, tile);
}

void quant_dequantize_rows(const QuantMatrix& w, std::int64_t r0, std::int64_t r1, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantizeRowsImpl)(w, r0, r1, out);
}

}  // namespace mlxs::backend::cpu::kernels
#endif  // HWY_ONCE
