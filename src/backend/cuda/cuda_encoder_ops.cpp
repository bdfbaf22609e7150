#include "backend/cuda/cuda_encoder_ops.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "backend/cuda/device_bind.h"
#include "backend/cuda/kernel_act.h"
#include "backend/cuda/kernels_encoder.h"

namespace mlxs::backend::cuda {

using tensor::Tensor;

CudaEncoderOps::CudaEncoderOps(int device, cudaStream_t stream, bool exact, Report report,
                               Time time)
    : device_(device),
      stream_(stream),
      exact_(exact),
      report_(std::move(report)),
      time_(std::move(time)) {
  if (const char* env = std::getenv("MLXS_SEGMENT_ATTENTION"); env != nullptr) {
    const std::string_view name(env);
    if (name == "tf32") attention_ = Attention::kTf32;
    if (name == "f32") attention_ = Attention::kF32;
  }
}

CudaEncoderOps::~CudaEncoderOps() {
  release();
}

void CudaEncoderOps::release() {
  bind_device(device_);
  for (Slot& s : slots_) {
    if (s.copied != nullptr) cudaEventSynchronize(s.copied);
    if (s.copied != nullptr) cudaEventDestroy(s.copied);
    cudaFreeHost(s.host);
    cudaFree(s.dev);
    s = Slot{};
  }
  cudaFree(kv_scratch_);
  kv_scratch_ = nullptr;
  kv_scratch_bytes_ = 0;
  capacity_ = 0;
}

core::Status CudaEncoderOps::plan(std::int64_t max_rows, int max_heads) {
  // Segments of up to max_rows rows: at most max_rows + 1 bounds.
  const std::size_t kv_bytes =
      exact_ ? 0 : k::segment_attention_f16_scratch(max_rows, std::max(max_heads, 1));
  if (max_rows + 1 <= capacity_ && kv_bytes <= kv_scratch_bytes_) return core::Status::ok();
  release();
  const auto n = static_cast<std::size_t>(max_rows + 1);
  if (kv_bytes > 0) {
    if (const cudaError_t err = cudaMalloc(&kv_scratch_, kv_bytes); err != cudaSuccess) {
      kv_scratch_ = nullptr;
      return core::make_error(core::ErrorCode::kModelLoadError,
                              "CUDA vision attention scratch of {} bytes: {}", kv_bytes,
                              cudaGetErrorString(err));
    }
    kv_scratch_bytes_ = kv_bytes;
  }
  for (Slot& s : slots_) {
    cudaError_t err = cudaMallocHost(&s.host, n * sizeof(std::int32_t));
    if (err == cudaSuccess) err = cudaMalloc(&s.dev, n * sizeof(std::int32_t));
    if (err == cudaSuccess) err = cudaEventCreateWithFlags(&s.copied, cudaEventDisableTiming);
    if (err != cudaSuccess) {
      release();
      return core::make_error(core::ErrorCode::kModelLoadError,
                              "CUDA vision encoder scratch of {} rows: {}", max_rows,
                              cudaGetErrorString(err));
    }
    s.held.reserve(n);
  }
  capacity_ = max_rows + 1;
  return core::Status::ok();
}

const std::int32_t* CudaEncoderOps::upload_segments(std::span<const std::int32_t> segments) {
  if (static_cast<std::int64_t>(segments.size()) > capacity_) {
    report_(cudaErrorInvalidValue, "segment attention: more segments than planned");
    return nullptr;
  }
  ++clock_;
  for (Slot& s : slots_) {
    if (std::equal(s.held.begin(), s.held.end(), segments.begin(), segments.end())) {
      s.used = clock_;
      return s.dev;
    }
  }
  Slot& s = *std::min_element(std::begin(slots_), std::end(slots_),
                              [](const Slot& a, const Slot& b) { return a.used < b.used; });
  // The pinned buffer may still feed an upload queued earlier.
  report_(cudaEventSynchronize(s.copied), "segment upload");
  std::copy(segments.begin(), segments.end(), s.host);
  s.held.assign(segments.begin(), segments.end());
  s.used = clock_;
  report_(cudaMemcpyAsync(s.dev, s.host, segments.size() * sizeof(std::int32_t),
                          cudaMemcpyHostToDevice, stream_),
          "segment upload");
  report_(cudaEventRecord(s.copied, stream_), "segment upload");
  return s.dev;
}

void CudaEncoderOps::layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps,
                                Tensor out) {
  bind_device(device_);
  const Timed timed(time_, "enc.layer_norm");
  report_(k::layer_norm(x.as<float>(), w.as<float>(), b.empty() ? nullptr : b.as<float>(), eps,
                        out.as<float>(), x.rows(), static_cast<int>(x.cols()), stream_),
          "layer_norm");
}

void CudaEncoderOps::activation(Tensor x, tensor::Activation act) {
  bind_device(device_);
  const Timed timed(time_, "enc.activation");
  report_(k::activation(kernel_act(act), x.as<float>(), x.numel(), stream_), "activation");
}

void CudaEncoderOps::segment_attention(const Tensor& q, const Tensor& k_, const Tensor& v,
                                       int heads, int head_dim, float scale,
                                       std::span<const std::int32_t> segments, Tensor out) {
  bind_device(device_);
  if (segments.size() < 2) {
    report_(cudaErrorInvalidValue, "segment attention: no segment");
    return;
  }
  const std::int32_t* dev = upload_segments(segments);
  if (dev == nullptr) return;
  const int N = static_cast<int>(q.rows());
  const int count = static_cast<int>(segments.size()) - 1;
  if (!exact_ && attention_ == Attention::kF16 && k::segment_attention_f16_supports(head_dim)) {
    const Timed timed(time_, "enc.attention_f16");
    report_(k::segment_attention_f16(q.as<float>(), k_.as<float>(), v.as<float>(), N, heads,
                                     head_dim, scale, dev, count, out.as<float>(), kv_scratch_,
                                     kv_scratch_bytes_, stream_),
            "segment_attention");
    return;
  }
  const bool tf32 =
      !exact_ && attention_ != Attention::kF32 && k::segment_attention_tf32_supports(head_dim);
  const Timed timed(time_, tf32 ? "enc.attention_tf32" : "enc.attention_f32");
  const auto launch = tf32 ? k::segment_attention_tf32 : k::segment_attention;
  report_(launch(q.as<float>(), k_.as<float>(), v.as<float>(), N, heads, head_dim, scale, dev,
                 count, out.as<float>(), stream_),
          "segment_attention");
}

void CudaEncoderOps::rotary(Tensor x, int head_dim, const Tensor& cos_sin) {
  bind_device(device_);
  const Timed timed(time_, "enc.rotary");
  report_(k::rotary(x.as<float>(), x.rows(), static_cast<int>(x.cols() / head_dim), head_dim,
                    cos_sin.as<float>(), stream_),
          "rotary");
}

void CudaEncoderOps::avg_pool(const Tensor& x, int h, int w, int k_, Tensor out) {
  bind_device(device_);
  const Timed timed(time_, "enc.avg_pool");
  report_(k::avg_pool(x.as<float>(), h, w, k_, x.cols(), out.as<float>(), stream_), "avg_pool");
}

void CudaEncoderOps::copy(const Tensor& src, Tensor dst) {
  bind_device(device_);
  const Timed timed(time_, "enc.copy");
  report_(cudaMemcpyAsync(dst.data, src.data, src.nbytes(), cudaMemcpyDefault, stream_), "copy");
}

}  // namespace mlxs::backend::cuda
