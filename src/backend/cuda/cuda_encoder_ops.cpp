#include "backend/cuda/cuda_encoder_ops.h"

#include <algorithm>
#include <utility>

#include "backend/cuda/device_bind.h"
#include "backend/cuda/kernels_encoder.h"

namespace mlxs::backend::cuda {

using tensor::Tensor;

namespace {

k::Act kernel_act(tensor::Activation act) {
  switch (act) {
    case tensor::Activation::kSilu:
      return k::Act::kSilu;
    case tensor::Activation::kGeluTanh:
      return k::Act::kGeluTanh;
    case tensor::Activation::kGelu:
      return k::Act::kGelu;
    case tensor::Activation::kQuickGelu:
      return k::Act::kQuickGelu;
  }
  return k::Act::kSilu;
}

}  // namespace

CudaEncoderOps::CudaEncoderOps(int device, cudaStream_t stream, bool exact, Report report)
    : device_(device), stream_(stream), exact_(exact), report_(std::move(report)) {}

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
  capacity_ = 0;
}

core::Status CudaEncoderOps::plan(std::int64_t max_rows, int /*max_heads*/) {
  // Segments of up to max_rows rows: at most max_rows + 1 bounds.
  if (max_rows + 1 <= capacity_) return core::Status::ok();
  release();
  const auto n = static_cast<std::size_t>(max_rows + 1);
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
  report_(k::layer_norm(x.as<float>(), w.as<float>(), b.empty() ? nullptr : b.as<float>(), eps,
                        out.as<float>(), x.rows(), static_cast<int>(x.cols()), stream_),
          "layer_norm");
}

void CudaEncoderOps::activation(Tensor x, tensor::Activation act) {
  bind_device(device_);
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
  const auto launch = !exact_ && k::segment_attention_tf32_supports(head_dim)
                          ? k::segment_attention_tf32
                          : k::segment_attention;
  report_(
      launch(q.as<float>(), k_.as<float>(), v.as<float>(), static_cast<int>(q.rows()), heads,
             head_dim, scale, dev, static_cast<int>(segments.size()) - 1, out.as<float>(), stream_),
      "segment_attention");
}

void CudaEncoderOps::rotary(Tensor x, int head_dim, const Tensor& cos_sin) {
  bind_device(device_);
  report_(k::rotary(x.as<float>(), x.rows(), static_cast<int>(x.cols() / head_dim), head_dim,
                    cos_sin.as<float>(), stream_),
          "rotary");
}

void CudaEncoderOps::avg_pool(const Tensor& x, int h, int w, int k_, Tensor out) {
  bind_device(device_);
  report_(k::avg_pool(x.as<float>(), h, w, k_, x.cols(), out.as<float>(), stream_), "avg_pool");
}

void CudaEncoderOps::copy(const Tensor& src, Tensor dst) {
  bind_device(device_);
  report_(cudaMemcpyAsync(dst.data, src.data, src.nbytes(), cudaMemcpyDefault, stream_), "copy");
}

}  // namespace mlxs::backend::cuda
