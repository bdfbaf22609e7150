#pragma once
// The CPU's vision-encoder ops (tensor/encoder_ops.h): f32 rows on the shared
// thread pool, attention scores in per-thread scratch sized by plan().

#include <memory>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "tensor/encoder_ops.h"

namespace mlxs::backend::cpu {

class CpuEncoderOps final : public tensor::EncoderOps {
 public:
  explicit CpuEncoderOps(ThreadPool& pool) : pool_(pool) {}

  core::Status plan(std::int64_t max_rows, int max_heads) override;
  void layer_norm(const tensor::Tensor& x, const tensor::Tensor& w, const tensor::Tensor& b,
                  float eps, tensor::Tensor out) override;
  void activation(tensor::Tensor x, tensor::Activation act) override;
  void segment_attention(const tensor::Tensor& q, const tensor::Tensor& k, const tensor::Tensor& v,
                         int heads, int head_dim, float scale,
                         std::span<const std::int32_t> segments, tensor::Tensor out) override;
  void rotary(tensor::Tensor x, int head_dim, const tensor::Tensor& cos_sin) override;
  void avg_pool(const tensor::Tensor& x, int h, int w, int k, tensor::Tensor out) override;
  void copy(const tensor::Tensor& src, tensor::Tensor dst) override;

 private:
  ThreadPool& pool_;
  std::int64_t max_rows_ = 0;
  std::vector<float> scores_;  // [threads, max_rows]
};

}  // namespace mlxs::backend::cpu
