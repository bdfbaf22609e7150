#include "model/quant_binder.h"

#include <fmt/format.h>

#include "model/load_error.h"

namespace mlxs::model {
namespace {

using core::Result;
using tensor::DType;
using tensor::QuantFormat;
using tensor::Weight;

// A per-group or per-block parameter tensor: present, float, of `shape`.
Result<const TensorEntry*> param(const WeightStore& store, const std::string& name,
                                 const std::vector<std::int64_t>& shape, const std::string& why) {
  const TensorEntry* e = store.find(name);
  if (e == nullptr) return load_error(fmt::format("tensor '{}' is missing ({})", name, why));
  if (!is_float_weight(e->dtype)) {
    return load_error(fmt::format("tensor '{}' has dtype {}; scales must be F32, F16 or BF16", name,
                                  tensor::dtype_name(e->dtype)));
  }
  if (e->shape != shape) {
    return load_error(fmt::format("tensor '{}' has shape {}, the quantization implies {}", name,
                                  shape_text(e->shape), shape_text(shape)));
  }
  return e;
}

Result<std::optional<Weight>> find_affine(const WeightStore& store, const QuantConfig& config,
                                          const std::string& m, const TensorEntry& w,
                                          std::int64_t out, std::int64_t in,
                                          std::set<std::string>& used) {
  const TensorEntry* scales = store.find(m + ".scales");
  if (scales == nullptr) {
    if (w.dtype == DType::kU32) {
      return load_error(
          fmt::format("tensor '{}.weight' is packed (U32) but '{}.scales' is missing", m, m));
    }
    return std::optional<Weight>();  // a module mlx-lm left in float
  }
  const auto params = config.affine_for(m);
  if (!params) {
    return load_error(fmt::format(
        "config.json leaves '{}' unquantized but the checkpoint has '{}.scales'", m, m));
  }
  const int bits = params->bits;
  const std::int64_t group = params->group_size;
  if (w.dtype != DType::kU32) {
    return load_error(fmt::format("tensor '{}.weight' has dtype {}; MLX-quantized weights are U32",
                                  m, tensor::dtype_name(w.dtype)));
  }
  if (in % group != 0) {
    return load_error(
        fmt::format("group size {} does not divide the {} input columns of '{}'", group, in, m));
  }
  if ((in * bits) % 32 != 0) {
    return load_error(fmt::format(
        "{} columns of {}-bit codes do not fill whole U32 words in '{}.weight'", in, bits, m));
  }
  const std::vector<std::int64_t> packed{out, in * bits / 32};
  if (w.shape != packed) {
    return load_error(fmt::format(
        "tensor '{}.weight' has packed shape {}; {}-bit codes of a [{}, {}] matrix pack to {}", m,
        shape_text(w.shape), bits, out, in, shape_text(packed)));
  }
  const std::vector<std::int64_t> per_group{out, in / group};
  MLXS_ASSIGN_OR_RETURN(const TensorEntry* s,
                        param(store, m + ".scales", per_group, "one scale per group"));
  MLXS_ASSIGN_OR_RETURN(const TensorEntry* b, param(store, m + ".biases", per_group,
                                                    "affine codes need a bias per group"));
  used.insert({m + ".weight", m + ".scales", m + ".biases"});
  Weight q;
  q.w = w.view();
  q.quant.format = QuantFormat::kAffine;
  q.quant.bits = bits;
  q.quant.group_size = group;
  q.quant.block_rows = 1;
  q.quant.in_features = in;
  q.quant.scales = s->view();
  q.quant.biases = b->view();
  return std::optional<Weight>(q);
}

bool ignored(const QuantConfig& config, const std::string& m) {
  for (const auto& name : config.ignore) {
    if (name == m) return true;
  }
  return false;
}

Result<std::optional<Weight>> find_fp8(const WeightStore& store, const QuantConfig& config,
                                       const std::string& m, const TensorEntry& w, std::int64_t out,
                                       std::int64_t in, std::set<std::string>& used) {
  if (w.dtype != DType::kF8E4M3) {
    if (ignored(config, m) || is_float_weight(w.dtype)) return std::optional<Weight>();
    return load_error(fmt::format("tensor '{}.weight' has dtype {}; FP8 weights are F8_E4M3", m,
                                  tensor::dtype_name(w.dtype)));
  }
  if (w.shape != std::vector<std::int64_t>{out, in}) {
    return load_error(fmt::format("tensor '{}.weight' has shape {}, the config implies [{}, {}]", m,
                                  shape_text(w.shape), out, in));
  }
  Weight q;
  q.w = w.view();
  q.quant.format = QuantFormat::kFp8;
  q.quant.bits = 8;
  q.quant.in_features = in;
  std::string scale_name;
  if (config.method == QuantMethod::kFp8Block) {
    const std::int64_t br = config.block_rows;
    const std::int64_t bc = config.block_cols;
    scale_name = m + ".weight_scale_inv";
    MLXS_ASSIGN_OR_RETURN(const TensorEntry* s,
                          param(store, scale_name, {(out + br - 1) / br, (in + bc - 1) / bc},
                                fmt::format("one scale per {}x{} block", br, bc)));
    q.quant.scales = s->view();
    q.quant.block_rows = br;
    q.quant.group_size = bc;
  } else {
    scale_name = m + ".weight_scale";
    const TensorEntry* s = store.find(scale_name);
    if (s == nullptr) {
      return load_error(
          fmt::format("tensor '{}' is missing (FP8 weights need scales)", scale_name));
    }
    // Per channel: [out, 1] (or [out]); per tensor: [1] (or a scalar).
    const bool channel =
        s->shape == std::vector<std::int64_t>{out, 1} || s->shape == std::vector<std::int64_t>{out};
    const bool tensor_wide = s->shape == std::vector<std::int64_t>{1} || s->shape.empty();
    if ((!channel && !tensor_wide) || channel == config.per_tensor) {
      return load_error(
          fmt::format("tensor '{}' has shape {}; {} scales of a [{}, {}] weight are {}", scale_name,
                      shape_text(s->shape), config.per_tensor ? "per-tensor" : "per-channel", out,
                      in, config.per_tensor ? "[1]" : fmt::format("[{}, 1]", out)));
    }
    MLXS_ASSIGN_OR_RETURN(s, param(store, scale_name, s->shape, "FP8 scales"));
    q.quant.scales = s->view();
    q.quant.block_rows = config.per_tensor ? out : 1;
    q.quant.group_size = in;
  }
  used.insert({m + ".weight", scale_name});
  // compressed-tensors may store a zero point even for symmetric schemes.
  if (store.contains(m + ".weight_zero_point")) used.insert(m + ".weight_zero_point");
  return std::optional<Weight>(q);
}

}  // namespace

Result<std::optional<Weight>> find_quantized(const WeightStore& store, const QuantConfig& config,
                                             const std::string& module, std::int64_t out,
                                             std::int64_t in, std::set<std::string>& used) {
  const TensorEntry* w = store.find(module + ".weight");
  if (w == nullptr) return std::optional<Weight>();  // the caller reports it missing
  switch (config.method) {
    case QuantMethod::kNone:
      return std::optional<Weight>();
    case QuantMethod::kMlxAffine:
      return find_affine(store, config, module, *w, out, in, used);
    case QuantMethod::kFp8Block:
    case QuantMethod::kFp8Channel:
      return find_fp8(store, config, module, *w, out, in, used);
  }
  return std::optional<Weight>();
}

namespace {

// Rows of a matrix, or elements of a vector (biases, per-channel scales).
tensor::Tensor row_range(const tensor::Tensor& t, std::int64_t begin, std::int64_t end) {
  if (t.ndim >= 2) return t.rows_view(begin, end);
  tensor::Tensor v = t.as_matrix(t.numel(), 1).rows_view(begin, end);
  v.ndim = 1;
  v.shape = {end - begin, 0, 0, 0};
  return v;
}

}  // namespace

Result<Weight> weight_rows(const Weight& w, std::int64_t begin, std::int64_t end) {
  Weight out = w;
  out.w = w.w.rows_view(begin, end);
  if (!w.bias.empty()) out.bias = row_range(w.bias, begin, end);
  if (!w.quantized()) return out;
  const std::int64_t br = w.quant.block_rows;
  if (br == 1) {
    out.quant.scales = row_range(w.quant.scales, begin, end);
    if (!w.quant.biases.empty()) out.quant.biases = row_range(w.quant.biases, begin, end);
    return out;
  }
  if (br >= w.out_features()) return out;  // one scale for the whole tensor
  if (begin % br != 0) {
    return load_error(
        fmt::format("a fused weight splits at row {}, inside a {}-row FP8 block", begin, br));
  }
  out.quant.scales = row_range(w.quant.scales, begin / br, (end + br - 1) / br);
  return out;
}

}  // namespace mlxs::model
