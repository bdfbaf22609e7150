#pragma once
// What a vision tower needs beyond the decoder's ops: bidirectional attention
// within segments of rows, LayerNorm, plain activations, rotary embeddings
// from a table and 2-D average pooling. A tower also uses the Backend's
// row-wise ops (linear, rms_norm, add, gated_activation), none of which read
// the step. A tower runs once per image, outside the decoder's steps, on the
// backend's device.

#include <cstdint>
#include <span>

#include "core/status.h"
#include "tensor/backend.h"

namespace mlxs::tensor {

class EncoderOps {
 public:
  virtual ~EncoderOps() = default;
  // Sizes scratch for segments of up to `max_rows` rows and `max_heads`
  // heads (load time).
  virtual core::Status plan(std::int64_t max_rows, int max_heads) = 0;
  // out = (x - mean) / sqrt(var + eps) * w + b, per row; b may be empty.
  virtual void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps,
                          Tensor out) = 0;
  virtual void activation(Tensor x, Activation act) = 0;
  // q, k, v, out: [N, heads * head_dim]. Rows [segments[i], segments[i+1])
  // attend to each other and to nothing else; segments starts at 0 and ends
  // at N.
  virtual void segment_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads,
                                 int head_dim, float scale, std::span<const std::int32_t> segments,
                                 Tensor out) = 0;
  // Rotate-half rotary in place on x [N, heads * head_dim] (whole heads):
  // cos_sin [N, head_dim] holds each row's head_dim / 2 cosines then sines.
  virtual void rotary(Tensor x, int head_dim, const Tensor& cos_sin) = 0;
  // x [h * w, C] row-major over the grid -> out [(h / k) * (w / k), C], the
  // mean of each k x k cell.
  virtual void avg_pool(const Tensor& x, int h, int w, int k, Tensor out) = 0;
  // dst = src.
  virtual void copy(const Tensor& src, Tensor dst) = 0;
};

}  // namespace mlxs::tensor
