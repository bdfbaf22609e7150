#include "tensor/quant.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"

namespace mlxs::tensor {

std::string_view quant_format_name(QuantFormat format) {
  switch (format) {
    case QuantFormat::kNone:
      return "none";
    case QuantFormat::kAffine:
      return "affine";
    case QuantFormat::kFp8:
      return "fp8";
  }
  return "?";
}

std::int64_t packed_row_bytes(QuantFormat format, int bits, std::int64_t in) {
  if (format == QuantFormat::kFp8) return in;
  return (in * bits + 7) / 8;
}

float e4m3_to_f32(std::uint8_t code) {
  const int exp = (code >> 3) & 0xF;
  const int mant = code & 0x7;
  float magnitude;
  if (exp == 0xF && mant == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    magnitude = std::ldexp(static_cast<float>(mant), -9);  // subnormal: m · 2^-9
  } else {
    magnitude = std::ldexp(1.0f + static_cast<float>(mant) / 8.0f, exp - 7);
  }
  return (code & 0x80) != 0 ? -magnitude : magnitude;
}

// On the float's bits: FP8 quantization (at load, and of whole synthetic
// models) converts every weight, and a frexp/nearbyint per element made it
// the slowest part of both.
std::uint8_t f32_to_e4m3(float value) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint8_t>((bits >> 24) & 0x80u);
  bits &= 0x7FFFFFFFu;
  if (bits > 0x7F800000u) return 0x7F;                        // NaN
  if (bits >= 0x43E00000u) return sign | std::uint8_t{0x7E};  // 448 and past it
  if (bits < 0x3C800000u) {
    // Below 2^-6 the grid is uniform in steps of 2^-9 (subnormals; a result
    // of 8 is the smallest normal, code 0x08). nearbyint rounds half to even.
    const float a = std::bit_cast<float>(bits);
    return static_cast<std::uint8_t>(sign | static_cast<int>(std::nearbyint(a * 512.0f)));
  }
  // (1 + m / 8) · 2^e: the exponent and top three mantissa bits, rounded
  // half to even on the other twenty without a branch (random weights would
  // mispredict one); a mantissa that rounds up to 8 carries into the
  // exponent, as torch's cast does. The exponent bias goes from 127 to 7.
  const std::uint32_t rounded = (bits + 0x7FFFFu + ((bits >> 20) & 1u)) >> 20;
  const int code = static_cast<int>(rounded) - ((127 - 7) << 3);
  return static_cast<std::uint8_t>(sign | std::min(code, 0x7E));
}

std::uint32_t affine_code(const std::uint8_t* row, int bits, std::int64_t k) {
  const std::int64_t bit = k * bits;
  const std::int64_t byte = bit / 8;
  const int shift = static_cast<int>(bit % 8);
  // A code spans at most two bytes (bits <= 8).
  std::uint32_t word = row[byte];
  if (shift + bits > 8) word |= static_cast<std::uint32_t>(row[byte + 1]) << 8;
  return (word >> shift) & ((1u << bits) - 1u);
}

float quant_param(const Tensor& t, std::int64_t index) {
  switch (t.dtype) {
    case DType::kF32:
      return t.as<const float>()[index];
    case DType::kBF16:
      return core::bf16_to_f32(t.as<const std::uint16_t>()[index]);
    case DType::kF16:
      return core::f16_to_f32(t.as<const std::uint16_t>()[index]);
    case DType::kF64:
      return static_cast<float>(t.as<const double>()[index]);
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
  return 0.0f;  // loaders admit float scales only
}

void dequantize_rows(const Tensor& packed, const QuantSpec& spec, std::int64_t r0, std::int64_t r1,
                     float* out) {
  const std::int64_t in = spec.in_features;
  const std::int64_t row_bytes = packed_row_bytes(spec.format, spec.bits, in);
  const std::int64_t groups = spec.groups_per_row();
  const auto* base = static_cast<const std::uint8_t*>(packed.data);
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::uint8_t* row = base + r * row_bytes;
    float* dst = out + (r - r0) * in;
    const std::int64_t srow = (r / spec.block_rows) * groups;
    for (std::int64_t c = 0; c < in; ++c) {
      const std::int64_t g = srow + c / spec.group_size;
      const float scale = quant_param(spec.scales, g);
      if (spec.format == QuantFormat::kAffine) {
        const auto q = static_cast<float>(affine_code(row, spec.bits, c));
        dst[c] = scale * q + quant_param(spec.biases, g);
      } else {
        dst[c] = e4m3_to_f32(row[c]) * scale;
      }
    }
  }
}

void quantize_affine_row(const float* w, std::int64_t in, int bits, std::int64_t group,
                         std::uint8_t* packed, std::uint16_t* scales_bf16,
                         std::uint16_t* biases_bf16) {
  const float levels = static_cast<float>((1 << bits) - 1);
  std::memset(packed, 0,
              static_cast<std::size_t>(packed_row_bytes(QuantFormat::kAffine, bits, in)));
  for (std::int64_t g0 = 0; g0 < in; g0 += group) {
    const std::int64_t g1 = std::min(in, g0 + group);
    float w_min = w[g0];
    float w_max = w[g0];
    for (std::int64_t c = g0; c < g1; ++c) {
      w_min = std::min(w_min, w[c]);
      w_max = std::max(w_max, w[c]);
    }
    float scale = std::max((w_max - w_min) / levels, 1e-7f);
    float edge = w_min;
    if (!(std::fabs(w_min) > std::fabs(w_max))) {
      edge = w_max;
      scale = -scale;
    }
    const float q0 = std::nearbyint(edge / scale);
    float bias = 0.0f;
    if (q0 != 0.0f) {
      scale = edge / q0;
      bias = edge;
    }
    for (std::int64_t c = g0; c < g1; ++c) {
      const float q = std::clamp(std::nearbyint((w[c] - bias) / scale), 0.0f, levels);
      const auto code = static_cast<std::uint32_t>(q);
      const std::int64_t bit = c * bits;
      const std::uint32_t shifted = code << (bit % 8);
      packed[bit / 8] = static_cast<std::uint8_t>(packed[bit / 8] | (shifted & 0xFFu));
      if ((bit % 8) + bits > 8) {
        packed[bit / 8 + 1] = static_cast<std::uint8_t>(packed[bit / 8 + 1] | (shifted >> 8));
      }
    }
    scales_bf16[g0 / group] = core::f32_to_bf16(scale);
    biases_bf16[g0 / group] = core::f32_to_bf16(bias);
  }
}

core::Status validate_quant_params(QuantFormat format, int bits, std::int64_t group_size) {
  switch (format) {
    case QuantFormat::kNone:
      return core::Status::ok();
    case QuantFormat::kAffine:
      if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8) {
        return core::Status(core::ErrorCode::kModelLoadError,
                            "affine quantization with " + std::to_string(bits) +
                                " bits is not supported (2, 3, 4, 5, 6 or 8)");
      }
      if (group_size != 32 && group_size != 64 && group_size != 128) {
        return core::Status(core::ErrorCode::kModelLoadError,
                            "affine quantization group size " + std::to_string(group_size) +
                                " is not supported (32, 64 or 128)");
      }
      return core::Status::ok();
    case QuantFormat::kFp8:
      if (bits != 8 || group_size <= 0) {
        return core::Status(core::ErrorCode::kModelLoadError, "fp8 weights need 8 bits and blocks");
      }
      return core::Status::ok();
  }
  return core::Status::ok();
}

}  // namespace mlxs::tensor
