#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace mlxs::model {
namespace {

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// Dimension index at which a wavelength completes `rotations` turns over the
// original context (YaRN's correction range).
double yarn_correction_dim(double rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}

}  // namespace

tensor::RopeSpec compute_rope(const RopeParams& p, std::int64_t head_dim,
                              std::int64_t max_position) {
  tensor::RopeSpec spec;
  const auto dim = static_cast<int>(static_cast<double>(head_dim) * p.partial_rotary_factor);
  spec.rot_dim = dim;
  const int half = dim / 2;
  std::size_t freq = 0;
  for (std::size_t axis = 0; axis < p.mrope_section.size(); ++axis) {
    for (std::int64_t i = 0; i < p.mrope_section[axis]; ++i) {
      if (freq < static_cast<std::size_t>(half)) {
        spec.axis.resize(freq + 1);
        spec.axis[freq++] = static_cast<std::uint8_t>(axis);
      }
    }
  }
  spec.inv_freq.resize(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) {
    spec.inv_freq[static_cast<std::size_t>(i)] =
        1.0 / std::pow(p.theta, static_cast<double>(2 * i) / static_cast<double>(dim));
  }
  switch (p.type) {
    case RopeType::kDefault:
      break;
    case RopeType::kLinear:
      for (auto& f : spec.inv_freq) f /= p.factor;
      break;
    case RopeType::kLlama3: {
      const double old_ctx = static_cast<double>(p.original_max_position_embeddings);
      const double low_wavelen = old_ctx / p.low_freq_factor;
      const double high_wavelen = old_ctx / p.high_freq_factor;
      for (auto& f : spec.inv_freq) {
        const double wavelen = 2.0 * std::numbers::pi / f;
        if (wavelen > low_wavelen) {
          f /= p.factor;  // long wavelengths: interpolate fully
        } else if (wavelen >= high_wavelen) {
          const double smooth =
              (old_ctx / wavelen - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
          f = (1.0 - smooth) * f / p.factor + smooth * f;
        }
      }
      break;
    }
    case RopeType::kYarn: {
      const double base = p.theta;
      const double factor = p.factor;
      const double orig = p.original_max_position_embeddings > 0
                              ? static_cast<double>(p.original_max_position_embeddings)
                              : static_cast<double>(max_position);
      if (p.attention_factor) {
        spec.attention_factor = *p.attention_factor;
      } else if (p.mscale && p.mscale_all_dim) {
        spec.attention_factor =
            yarn_mscale(factor, *p.mscale) / yarn_mscale(factor, *p.mscale_all_dim);
      } else {
        spec.attention_factor = yarn_mscale(factor, 1.0);
      }
      double low = yarn_correction_dim(p.beta_fast, dim, base, orig);
      double high = yarn_correction_dim(p.beta_slow, dim, base, orig);
      if (p.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;
      for (int i = 0; i < half; ++i) {
        const double extrapolated = spec.inv_freq[static_cast<std::size_t>(i)];
        const double interpolated = extrapolated / factor;
        const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
        const double extrapolation_weight = 1.0 - ramp;
        spec.inv_freq[static_cast<std::size_t>(i)] =
            interpolated * (1.0 - extrapolation_weight) + extrapolated * extrapolation_weight;
      }
      break;
    }
  }
  return spec;
}

}  // namespace mlxs::model
