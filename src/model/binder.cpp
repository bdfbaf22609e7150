#include "model/binder.h"

#include <fmt/format.h>

#include <cmath>

#include "tensor/quant.h"

namespace mlxs::model {

using core::Status;

// What LoadOptions::quantization asks of this checkpoint: nothing, a
// quantization at load, or an error when it contradicts how the checkpoint
// is already stored (the original's clients send "int4" for 4-bit folders).
bool keeps_weights(const std::string& requested) {
  return requested.empty() || requested == "none" || requested == "bf16" || requested == "fp16";
}

Result<std::optional<LoadQuantization>> load_quantization(const std::string& requested,
                                                          const QuantConfig& stored) {
  MLXS_RETURN_IF_ERROR(check_quantization_name(requested));
  if (keeps_weights(requested)) return std::optional<LoadQuantization>();
  LoadQuantization q;
  q.fp8 = requested == "fp8";
  q.bits = requested == "int4" ? 4 : requested == "int8" ? 8 : 0;
  if (!stored.quantized()) return std::optional<LoadQuantization>(q);
  const bool agrees =
      stored.method == QuantMethod::kMlxAffine ? !q.fp8 && stored.affine.bits == q.bits : q.fp8;
  if (!agrees) {
    const std::string how =
        stored.method == QuantMethod::kMlxAffine
            ? fmt::format("{}, {} bits", quant_method_name(stored.method), stored.affine.bits)
            : std::string(quant_method_name(stored.method));
    return load_error(fmt::format(
        "the checkpoint is already quantized ({}); quantization \"{}\" disagrees", how, requested));
  }
  return std::optional<LoadQuantization>();  // as stored: nothing to do
}

namespace {
// A float tensor's values as f32 on the host, whatever its float dtype.
std::vector<float> values_f32(const TensorEntry& e) {
  std::vector<float> out(e.nbytes / tensor::dtype_size(e.dtype));
  const Tensor view = e.view();
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = tensor::quant_param(view, static_cast<std::int64_t>(i));
  }
  return out;
}
}  // namespace

Result<std::vector<float>> Binder::host_f32(const std::string& name,
                                            std::vector<std::int64_t> shape) {
  MLXS_ASSIGN_OR_RETURN(const TensorEntry* e, entry(name, std::move(shape)));
  std::vector<float> out = values_f32(*e);
  report();
  return out;
}

Result<std::optional<std::vector<float>>> Binder::optional_scale(const std::string& name) {
  const TensorEntry* e = store_.find(name);
  if (e == nullptr) return std::optional<std::vector<float>>();
  // entry() wants one exact shape; a scale comes in three.
  if (e->shape.size() > 1) {
    return load_error(
        fmt::format("tensor '{}' has shape {}; a KV-cache scale is a scalar or a vector", name,
                    shape_text(e->shape)));
  }
  if (!is_float_weight(e->dtype)) {
    return load_error(
        fmt::format("tensor '{}' has dtype {}; KV-cache scales must be F32, F16 or BF16", name,
                    tensor::dtype_name(e->dtype)));
  }
  mark_used(name, *e);
  std::vector<float> out = values_f32(*e);
  for (std::size_t i = 0; i < out.size(); ++i) {
    // A cache code is x / scale: zero, negative or NaN would poison every read.
    if (!std::isfinite(out[i]) || out[i] <= 0.0f) {
      return load_error(fmt::format(
          "tensor '{}' holds {} at index {}; KV-cache scales must be finite and positive", name,
          out[i], i));
    }
  }
  report();
  return std::optional<std::vector<float>>(std::move(out));
}

}  // namespace mlxs::model
