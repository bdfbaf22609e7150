#pragma once
// One vision tower and its projector, written once against Backend and
// EncoderOps for every family (CLIP, SigLIP, Qwen2-VL, Qwen2.5-VL), read from
// VisionTraits: an image's pixels in, its rows of the decoder's embedding
// space out. Weights are found under any of the names published checkpoints
// use (with or without the `vision_model.` level, under `model.` or not).
// The workspace is sized at load for the largest image; encoding allocates
// nothing.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/vision_config.h"
#include "tensor/backend.h"
#include "tensor/encoder_ops.h"

namespace mlxs::model {

class Binder;

// An image as its processor lays it out (src/image/preprocess.h):
// fixed-size towers read pixel_values [channels, size, size]; Qwen towers
// read patch rows [grid_t * grid_h * grid_w, channels * temporal * patch^2]
// in the processor's merge order, with the grid in patches.
struct ImageInput {
  std::span<const float> pixels;
  std::int64_t grid_t = 1;
  std::int64_t grid_h = 0;
  std::int64_t grid_w = 0;
};

class VisionTower {
 public:
  // `max_patches`: the most patch rows one image may have (Qwen; fixed-size
  // towers know theirs). `row_chunk`: the most rows one linear may take
  // (the decoder's step capacity).
  static core::Result<std::unique_ptr<VisionTower>> create(const VisionConfig& config,
                                                           std::int64_t text_hidden, Binder& bind,
                                                           tensor::Backend& backend,
                                                           std::int64_t max_patches,
                                                           std::int64_t row_chunk);
  ~VisionTower();

  const VisionConfig& config() const { return cfg_; }
  // Rows the image becomes in the prompt; InvalidParams naming what is
  // wrong for an input the tower cannot take.
  core::Result<std::int64_t> tokens(const ImageInput& image) const;
  // The image's rows [tokens, text_hidden] into `out` (host memory).
  core::Status encode(const ImageInput& image, std::span<float> out);

  // Widest input and output of the tower's linears (the backend's scratch
  // is sized for them).
  std::int64_t max_linear_in() const { return max_in_; }
  std::int64_t max_linear_out() const { return max_out_; }
  std::size_t workspace_bytes() const;

 private:
  struct Block {
    tensor::Tensor norm1_w, norm1_b, norm2_w, norm2_b;
    tensor::Weight q, k, v, o;
    tensor::Weight fc1, fc2;        // plain MLP
    tensor::Weight gate, up, down;  // gated MLP
  };
  VisionTower(const VisionConfig& config, std::int64_t text_hidden, tensor::Backend& backend,
              tensor::EncoderOps& ops, std::int64_t row_chunk);
  core::Status bind_weights(Binder& bind);
  core::Status plan(std::int64_t max_rows);

  // Host-side layout of one image: patch rows, rotary table, segments.
  std::int64_t stage_fixed(const ImageInput& image);
  std::int64_t stage_qwen(const ImageInput& image);
  void linear(const tensor::Tensor& x, const tensor::Weight& w, tensor::Tensor out);
  // Several linears of one input in one backend call per row chunk (the
  // CUDA backend converts x to 16 bits once for all of them).
  void linears(const tensor::Tensor& x, std::span<const tensor::LinearOut> outs);
  void norm(const tensor::Tensor& x, const tensor::Tensor& w, const tensor::Tensor& b,
            tensor::Tensor out);
  void run_block(const Block& b, std::int64_t rows, std::span<const std::int32_t> segments);
  // Projector: features of `rows` tower rows -> decoder rows in out_rows().
  std::int64_t project(std::int64_t rows);

  VisionConfig cfg_;
  std::int64_t text_hidden_;
  tensor::Backend& be_;
  tensor::EncoderOps& ops_;
  std::int64_t row_chunk_;
  std::int64_t max_rows_ = 0;
  std::int64_t max_in_ = 0, max_out_ = 0;

  // Weights.
  tensor::Weight patch_;
  tensor::Tensor class_embedding_, positions_, pre_norm_w_, pre_norm_b_, post_norm_w_, post_norm_b_;
  std::vector<Block> blocks_;
  tensor::Tensor merge_norm_w_, merge_norm_b_;  // Qwen merger's ln_q; Gemma 3's soft-emb norm
  tensor::Weight proj1_, proj2_;                // the projector's linears

  // Workspace on the device, and host staging reused for every image.
  std::unique_ptr<tensor::DeviceBuffer> workspace_;
  tensor::Tensor in_, x_, h_, q_, k_, v_, attn_, t_, m_, g_, cs_, p1_, p2_;
  std::vector<float> staged_;    // patch rows
  std::vector<float> rotary_;    // [rows, head_dim] cos, sin
  std::vector<float> out_rows_;  // projector output before reordering
  std::vector<std::int32_t> full_segments_, window_segments_;
  std::vector<std::int32_t> window_order_;  // merged rows in window order
};

}  // namespace mlxs::model
