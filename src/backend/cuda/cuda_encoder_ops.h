#pragma once
// The CUDA vision-encoder ops (tensor/encoder_ops.h): f32 rows on the
// backend's stream, like every CUDA activation. Segment bounds are host
// spans; they reach the device through pinned slots sized by plan(), so a
// call allocates nothing.

#include <cstdint>
#include <functional>
#include <vector>

#include <cuda_runtime.h>

#include "tensor/encoder_ops.h"

namespace mlxs::backend::cuda {

class CudaEncoderOps final : public tensor::EncoderOps {
 public:
  // `report` keeps the first error for the backend's take_error (ops cannot
  // return one). `exact`: attention in f32 on the CUDA cores (the backend's
  // exact_f32); else f16 tensor cores where the head fits
  // (MLXS_SEGMENT_ATTENTION=tf32 or f32 picks the older kernels, to compare).
  // `time` (may be empty) brackets each op for MLXS_CUDA_OP_TIMING: called
  // with the op's name and false before it, true after.
  using Report = std::function<void(cudaError_t, const char*)>;
  using Time = std::function<void(const char*, bool)>;
  CudaEncoderOps(int device, cudaStream_t stream, bool exact, Report report, Time time = {});
  ~CudaEncoderOps() override;
  CudaEncoderOps(const CudaEncoderOps&) = delete;
  CudaEncoderOps& operator=(const CudaEncoderOps&) = delete;

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
  // The device copy of `segments`: a slot already holding them (a tower
  // alternates between its full and windowed segments), else the older
  // slot, refilled once its last upload has left the pinned buffer.
  const std::int32_t* upload_segments(std::span<const std::int32_t> segments);
  void release();
  // Times one op through `time_` for as long as it lives.
  struct Timed {
    const Time& time;
    const char* name;
    Timed(const Time& t, const char* n) : time(t), name(n) {
      if (time) time(name, false);
    }
    ~Timed() {
      if (time) time(name, true);
    }
    Timed(const Timed&) = delete;
    Timed& operator=(const Timed&) = delete;
  };
  enum class Attention { kF16, kTf32, kF32 };

  // A tower alternates between two lists (whole image, windows).
  static constexpr int kSlots = 2;
  struct Slot {
    std::int32_t* host = nullptr;  // pinned
    std::int32_t* dev = nullptr;
    cudaEvent_t copied = nullptr;  // the last upload from `host` is done
    std::vector<std::int32_t> held;
    long used = 0;  // when last chosen
  };
  int device_;
  cudaStream_t stream_;
  bool exact_;
  Report report_;
  Time time_;
  Attention attention_ = Attention::kF16;
  void* kv_scratch_ = nullptr;  // f16 K and V for the tensor-core kernel
  std::size_t kv_scratch_bytes_ = 0;
  std::int64_t capacity_ = 0;  // entries per slot
  Slot slots_[kSlots];
  long clock_ = 0;
};

}  // namespace mlxs::backend::cuda
