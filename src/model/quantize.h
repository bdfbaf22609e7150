#pragma once
// Quantizing float weights: one matrix at a time (load-time quantization) and
// whole model directories (`mlx-serving dev quantize`), in MLX's affine
// layout so that what we write loads in mlx-lm and here alike, or to FP8 e4m3
// per output channel.

#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "tensor/backend.h"

namespace mlxs::model {

// A quantized matrix and the storage its Weight views point into.
struct QuantizedMatrix {
  std::vector<std::uint8_t> codes;
  std::vector<std::uint16_t> scales;  // bf16
  std::vector<std::uint16_t> biases;  // bf16, affine only
  tensor::Weight weight;              // host views of the vectors above
};

// `w` is a float matrix [out, in] (f32, f16 or bf16); in must be a multiple
// of `group`. Rows are spread over `threads` threads.
QuantizedMatrix quantize_affine_matrix(const tensor::Tensor& w, int bits, std::int64_t group,
                                       int threads);
// Per output channel: scale = max|row| / 448 (bf16), codes e4m3(w / scale).
QuantizedMatrix quantize_fp8_matrix(const tensor::Tensor& w, int threads);

struct QuantizeOptions {
  std::string model_dir;
  std::string out_dir;
  // "mlx": affine codes of `bits` per `group_size` columns (mlx-community's
  // layout); "fp8": e4m3 per output channel in compressed-tensors' layout
  // (the "FP8-dynamic" checkpoints), embeddings and lm_head left as they are.
  std::string format = "mlx";
  int bits = 4;
  std::int64_t group_size = 64;
  int threads = 0;  // 0: every CPU
};

// What a quantized folder holds in place of one float matrix: each tensor's
// name, dtype and shape, in the order they are written (MLX: weight codes,
// scales, biases; FP8: codes and the per-row scale).
struct QuantizedTensor {
  std::string name;
  tensor::DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t nbytes;
};

// Whether `options` quantizes the float tensor `name` of `shape`: MLX every
// matrix whose input width the group size divides (linears, embeddings);
// FP8 every linear but lm_head and the embeddings. Others stay as they are.
bool quantizes(const QuantizeOptions& options, const std::string& name,
               const std::vector<std::int64_t>& shape, tensor::DType dtype);
// The tensors the matrix `name` ("<module>.weight", [rows, cols]) becomes.
std::vector<QuantizedTensor> quantized_layout(const QuantizeOptions& options,
                                              const std::string& name,
                                              const std::vector<std::int64_t>& shape);
// Quantizes `w` (float [rows, cols]); the bytes of each tensor of
// quantized_layout, in its order, point into the returned matrix.
QuantizedMatrix quantize_for(const QuantizeOptions& options, const tensor::Tensor& w);
std::vector<const void*> quantized_data(const QuantizeOptions& options, const QuantizedMatrix& q);
// The keys config.json declares the quantization with.
void declare_quantization(const QuantizeOptions& options, core::Json& config);
// InvalidParams for a format, bit width or group size `dev quantize` cannot write.
core::Status check_quantize_options(const QuantizeOptions& options);

struct QuantizeResult {
  int quantized = 0;  // matrices quantized
  int copied = 0;     // tensors copied as they were
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

// Reads a float model directory and writes it quantized. MLX: every matrix
// whose input width the group size divides (linears, embeddings), with
// `quantization` in config.json. FP8: every linear but lm_head, with
// compressed-tensors' `quantization_config`. Norms and other tensors are
// copied.
core::Result<QuantizeResult> quantize_model_dir(const QuantizeOptions& options);

}  // namespace mlxs::model
