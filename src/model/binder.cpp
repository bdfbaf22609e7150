#include "model/binder.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

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

namespace {

// The entries' bytes end to end on the host (rows of one matrix, or one
// vector, when they share a dtype and a row width).
std::vector<std::uint8_t> concatenated(const std::vector<const TensorEntry*>& entries) {
  std::size_t bytes = 0;
  for (const TensorEntry* e : entries) bytes += e->nbytes;
  std::vector<std::uint8_t> out(bytes);
  std::size_t at = 0;
  for (const TensorEntry* e : entries) {
    std::memcpy(out.data() + at, e->data, e->nbytes);
    at += e->nbytes;
  }
  return out;
}

}  // namespace

Result<std::vector<Weight>> Binder::stacked(const std::vector<StackedPart>& parts, std::int64_t in,
                                            bool bias) {
  // Stacked only where every part is a float tensor of the first one's dtype
  // and is (or is not) quantized at load like it.
  bool stack =
      backend_.fuses_adjacent_linears() && parts.size() > 1 && quant_.method == QuantMethod::kNone;
  const TensorEntry* first = stack ? store_.find(parts[0].prefix + ".weight") : nullptr;
  for (const StackedPart& p : parts) {
    if (!stack) break;
    const TensorEntry* e = store_.find(p.prefix + ".weight");
    const TensorEntry* b = bias ? store_.find(p.prefix + ".bias") : nullptr;
    stack = e != nullptr && first != nullptr && e->dtype == first->dtype &&
            is_float_weight(e->dtype) && (!bias || (b != nullptr && b->dtype == e->dtype)) &&
            (!at_load_ || quantize_at_load(p.prefix, in) == quantize_at_load(parts[0].prefix, in));
  }
  std::vector<Weight> out;
  if (!stack) {
    for (const StackedPart& p : parts) {
      MLXS_ASSIGN_OR_RETURN(Weight w, linear(p.prefix, p.out, in, bias));
      out.push_back(w);
    }
    return out;
  }
  std::int64_t total = 0;
  std::vector<const TensorEntry*> weights, biases;
  for (const StackedPart& p : parts) {
    MLXS_ASSIGN_OR_RETURN(const TensorEntry* e, entry(p.prefix + ".weight", {p.out, in}));
    weights.push_back(e);
    if (bias) {
      MLXS_ASSIGN_OR_RETURN(const TensorEntry* b, entry(p.prefix + ".bias", {p.out}));
      biases.push_back(b);
    }
    total += p.out;
  }
  // The host copy lives through the import: a backend that fuses adjacent
  // views uploads what it imports.
  std::vector<std::uint8_t> host = concatenated(weights);
  const Tensor view(host.data(), first->dtype, {total, in});
  Weight whole;
  if (at_load_ && quantize_at_load(parts[0].prefix, in)) {
    MLXS_ASSIGN_OR_RETURN(whole, quantized_import(view, parts[0].prefix + ".weight"));
  } else {
    MLXS_ASSIGN_OR_RETURN(whole.w, backend_.import_tensor(view, false));
    held_ += whole.w.nbytes();
  }
  if (bias) {
    std::vector<std::uint8_t> b = concatenated(biases);
    MLXS_ASSIGN_OR_RETURN(whole.bias,
                          backend_.import_tensor(Tensor(b.data(), first->dtype, {total}), true));
    held_ += whole.bias.nbytes();
  }
  report();
  std::vector<std::int64_t> rows;
  for (const StackedPart& p : parts) rows.push_back(p.out);
  return row_ranges(whole, rows);
}

Result<Weight> Binder::quantized_import(const Tensor& host, const std::string& name) {
  auto q = std::make_unique<QuantizedMatrix>(
      at_load_->fp8 ? quantize_fp8_matrix(host, 0)
                    : quantize_affine_matrix(host, at_load_->bits, kLoadGroupSize, 0));
  MLXS_ASSIGN_OR_RETURN(Weight w, backend_.import_quantized(q->weight));
  held_ += quantized_bytes(w);
  owned_[name] = std::move(q);
  return w;
}

Result<std::vector<Weight>> Binder::row_ranges(const Weight& whole,
                                               const std::vector<std::int64_t>& rows) {
  std::vector<Weight> out;
  std::int64_t row = 0;
  for (const std::int64_t n : rows) {
    MLXS_ASSIGN_OR_RETURN(Weight w, weight_rows(whole, row, row + n));
    row += n;
    out.push_back(w);
  }
  return out;
}

}  // namespace mlxs::model
