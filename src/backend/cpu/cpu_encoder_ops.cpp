#include "backend/cpu/cpu_encoder_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/kernels.h"

namespace mlxs::backend::cpu {

using tensor::Activation;
using tensor::Tensor;

core::Status CpuEncoderOps::plan(std::int64_t max_rows, int /*max_heads*/) {
  if (max_rows <= max_rows_) return core::Status::ok();
  max_rows_ = max_rows;
  scores_.assign(static_cast<std::size_t>(pool_.size()) * static_cast<std::size_t>(max_rows), 0.0f);
  return core::Status::ok();
}

void CpuEncoderOps::layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps,
                               Tensor out) {
  const std::int64_t n = x.cols();
  pool_.parallel_for(x.rows(), 8, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* xr = x.as<float>() + r * n;
      float* o = out.as<float>() + r * n;
      // Two passes in double: the mean is subtracted before squaring.
      double mean = 0.0;
      for (std::int64_t i = 0; i < n; ++i) mean += xr[i];
      mean /= static_cast<double>(n);
      double var = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double d = xr[i] - mean;
        var += d * d;
      }
      const double inv = 1.0 / std::sqrt(var / static_cast<double>(n) + eps);
      for (std::int64_t i = 0; i < n; ++i) {
        const float bias = b.empty() ? 0.0f : b.as<float>()[i];
        o[i] = static_cast<float>((xr[i] - mean) * inv) * w.as<float>()[i] + bias;
      }
    }
  });
}

void CpuEncoderOps::activation(Tensor x, Activation act) {
  const std::int64_t n = x.numel();
  pool_.parallel_for(n, 4096, [&](std::int64_t i0, std::int64_t i1) {
    float* v = x.as<float>();
    for (std::int64_t i = i0; i < i1; ++i) {
      const float g = v[i];
      switch (act) {
        case Activation::kSilu:
          v[i] = g / (1.0f + std::exp(-g));
          break;
        case Activation::kGeluTanh:
          v[i] = 0.5f * g * (1.0f + std::tanh(0.7978845608028654f * (g + 0.044715f * g * g * g)));
          break;
        case Activation::kGelu:
          v[i] = 0.5f * g * (1.0f + std::erf(g * 0.7071067811865476f));
          break;
        case Activation::kQuickGelu:
          v[i] = g / (1.0f + std::exp(-1.702f * g));
          break;
      }
    }
  });
}

void CpuEncoderOps::segment_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads,
                                      int head_dim, float scale,
                                      std::span<const std::int32_t> segments, Tensor out) {
  const std::int64_t N = q.rows();
  const std::int64_t row = static_cast<std::int64_t>(heads) * head_dim;
  // Segment of each query row: rows are few enough to search per task.
  auto segment_of = [&](std::int64_t t) {
    const auto it =
        std::upper_bound(segments.begin(), segments.end(), static_cast<std::int32_t>(t));
    const auto s = static_cast<std::size_t>(it - segments.begin()) - 1;
    return std::pair<std::int64_t, std::int64_t>(segments[s], segments[s + 1]);
  };
  pool_.run([&](int thread, int count) {
    float* scores =
        scores_.data() + static_cast<std::size_t>(thread) * static_cast<std::size_t>(max_rows_);
    for (std::int64_t task = thread; task < N * heads; task += count) {
      const std::int64_t t = task / heads;
      const std::int64_t h = task % heads;
      const auto [lo, hi] = segment_of(t);
      const std::int64_t n = hi - lo;
      const float* qv = q.as<float>() + t * row + h * head_dim;
      for (std::int64_t j = 0; j < n; ++j) {
        scores[j] =
            kernels::dot(qv, k.as<float>() + (lo + j) * row + h * head_dim, head_dim) * scale;
      }
      const float mx = kernels::max_of(scores, n);
      const float inv = 1.0f / kernels::exp_sub_sum(scores, mx, n);
      float* o = out.as<float>() + t * row + h * head_dim;
      std::memset(o, 0, static_cast<std::size_t>(head_dim) * sizeof(float));
      for (std::int64_t j = 0; j < n; ++j) {
        kernels::axpy(scores[j] * inv, v.as<float>() + (lo + j) * row + h * head_dim, o, head_dim);
      }
    }
  });
}

void CpuEncoderOps::rotary(Tensor x, int head_dim, const Tensor& cos_sin) {
  const int half = head_dim / 2;
  const std::int64_t heads = x.cols() / head_dim;
  pool_.parallel_for(x.rows(), 4, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      kernels::rotate_half(x.as<float>() + t * x.cols(), heads, head_dim, half,
                           cos_sin.as<float>() + t * head_dim);
    }
  });
}

void CpuEncoderOps::avg_pool(const Tensor& x, int h, int w, int k, Tensor out) {
  const std::int64_t C = x.cols();
  const int oh = h / k;
  const int ow = w / k;
  const float inv = 1.0f / static_cast<float>(k * k);
  pool_.parallel_for(static_cast<std::int64_t>(oh) * ow, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t cell = c0; cell < c1; ++cell) {
      const std::int64_t oy = cell / ow;
      const std::int64_t ox = cell % ow;
      float* o = out.as<float>() + cell * C;
      std::memset(o, 0, static_cast<std::size_t>(C) * sizeof(float));
      for (int dy = 0; dy < k; ++dy) {
        for (int dx = 0; dx < k; ++dx) {
          const std::int64_t src = (oy * k + dy) * w + ox * k + dx;
          kernels::add(o, x.as<float>() + src * C, C);
        }
      }
      kernels::scale(o, inv, C);
    }
  });
}

void CpuEncoderOps::copy(const Tensor& src, Tensor dst) {
  std::memcpy(dst.data, src.data, src.nbytes());
}

}  // namespace mlxs::backend::cpu
