#pragma once
// Binds checkpoint tensors to backend views for the decoder and the vision
// towers alike: names, shapes and dtypes checked (ModelLoadError naming the
// tensor), quantized weights recognised or quantized at load, bytes counted
// for the memory report and progress reported as tensors are bound.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/load_error.h"
#include "model/model.h"
#include "model/quant_binder.h"
#include "model/quantize.h"
#include "model/safetensors.h"
#include "tensor/backend.h"

namespace mlxs::model {

using core::Result;
using tensor::Tensor;
using tensor::Weight;

// Quantization applied while loading a float checkpoint.
struct LoadQuantization {
  bool fp8 = false;
  int bits = 0;  // affine
};
inline constexpr std::int64_t kLoadGroupSize = 64;  // mlx-lm's default

// Whether LoadOptions::quantization keeps the weights as stored.
bool keeps_weights(const std::string& requested);
// What LoadOptions::quantization asks of this checkpoint: nothing, a
// quantization at load, or an error when it contradicts how the checkpoint
// is already stored (the original's clients send "int4" for 4-bit folders).
Result<std::optional<LoadQuantization>> load_quantization(const std::string& requested,
                                                          const QuantConfig& stored);

// Binds checkpoint tensors to backend views, checking names, shapes and dtypes.
class Binder {
 public:
  // `at_load` asks for float weights to be quantized as they are bound; the
  // quantized copies live in `owned`.
  Binder(const WeightStore& store, const QuantConfig& quant, tensor::Backend& backend,
         std::optional<LoadQuantization> at_load,
         std::map<std::string, std::unique_ptr<QuantizedMatrix>>& owned,
         std::function<void(const LoadProgress&)> progress)
      : store_(store),
        quant_(quant),
        backend_(backend),
        at_load_(at_load),
        owned_(owned),
        progress_(std::move(progress)) {
    for (const auto& [name, e] : store_.tensors()) bytes_total_ += e.nbytes;
  }

  Result<const TensorEntry*> entry(const std::string& name, std::vector<std::int64_t> shape) {
    MLXS_ASSIGN_OR_RETURN(const TensorEntry* e, store_.require(name));
    if (e->shape != shape) {
      return load_error(fmt::format("tensor '{}' has shape {}, the config implies {}", name,
                                    shape_text(e->shape), shape_text(shape)));
    }
    if (!is_float_weight(e->dtype)) {
      return load_error(fmt::format("tensor '{}' has dtype {}; weights must be F32, F16 or BF16",
                                    name, tensor::dtype_name(e->dtype)));
    }
    mark_used(name, *e);
    return e;
  }

  // A matrix read in place (zero-copy when the backend computes with its dtype).
  Result<Tensor> matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    MLXS_ASSIGN_OR_RETURN(const TensorEntry* e, entry(name, {rows, cols}));
    auto t = backend_.import_tensor(e->view(), false);
    if (t.is_ok()) held_ += t->nbytes();
    report();
    return t;
  }
  // A vector the ops read as f32 (norm weights, biases).
  Result<Tensor> vector(const std::string& name, std::int64_t n) {
    MLXS_ASSIGN_OR_RETURN(const TensorEntry* e, entry(name, {n}));
    auto t = backend_.import_tensor(e->view(), true);
    if (t.is_ok()) held_ += t->nbytes();
    report();
    return t;
  }
  // Any tensor of this exact shape, imported as ops read it (widened to f32
  // or as stored); more than four dimensions are seen as [shape[0], rest].
  Result<Tensor> shaped(const std::string& name, std::vector<std::int64_t> shape, bool widen) {
    MLXS_ASSIGN_OR_RETURN(const TensorEntry* e, entry(name, std::move(shape)));
    auto t = backend_.import_tensor(e->view(), widen);
    if (t.is_ok()) held_ += t->nbytes();
    report();
    return t;
  }
  // A tensor's values as f32 on the host (weights the model rearranges
  // before importing them, such as a matrix stored transposed).
  Result<std::vector<float>> host_f32(const std::string& name, std::vector<std::int64_t> shape);
  // A KV-cache scale's values as f32 (nullopt when the checkpoint has no
  // such tensor): a scalar, [1] or [n] of finite positive values in any
  // float dtype. The caller checks n against the kv heads (kv_scales.h).
  Result<std::optional<std::vector<float>>> optional_scale(const std::string& name);
  // Counts bytes the caller imported itself from host_f32 values.
  void add_held(std::size_t bytes) { held_ += bytes; }
  bool has(const std::string& name) const { return store_.contains(name); }

  Result<Weight> linear(const std::string& prefix, std::int64_t out, std::int64_t in, bool bias) {
    Weight w;
    MLXS_ASSIGN_OR_RETURN(auto packed, find_quantized(store_, quant_, prefix, out, in, used_));
    if (packed) {
      MLXS_ASSIGN_OR_RETURN(w, backend_.import_quantized(*packed));
      held_ += quantized_bytes(w);
    } else if (at_load_ && quantize_at_load(prefix, in)) {
      MLXS_ASSIGN_OR_RETURN(const TensorEntry* e, entry(prefix + ".weight", {out, in}));
      MLXS_ASSIGN_OR_RETURN(w, quantized_import(e->view(), prefix + ".weight"));
    } else {
      MLXS_ASSIGN_OR_RETURN(w.w, matrix(prefix + ".weight", out, in));
    }
    if (bias) {
      MLXS_ASSIGN_OR_RETURN(w.bias, vector(prefix + ".bias", out));
    }
    report();
    return w;
  }
  // Splits a fused matrix (phi3 qkv_proj / gate_up_proj) into row ranges.
  Result<std::vector<Weight>> fused(const std::string& prefix, std::vector<std::int64_t> parts,
                                    std::int64_t in) {
    std::int64_t total = 0;
    for (auto p : parts) total += p;
    MLXS_ASSIGN_OR_RETURN(Weight whole, linear(prefix, total, in, false));
    return row_ranges(whole, parts);
  }

  // Linears that share an input (q/k/v) bound as row ranges of one weight,
  // where the backend runs adjacent views as one product
  // (Backend::fuses_adjacent_linears) and the checkpoint stores them as
  // float tensors of one dtype (quantized at load or not): a GQA model's
  // narrow k and v GEMMs alone leave most of a GPU idle. Otherwise each is
  // bound alone, as linear() does. The views come in the parts' order.
  struct StackedPart {
    std::string prefix;
    std::int64_t out;
  };
  Result<std::vector<Weight>> stacked(const std::vector<StackedPart>& parts, std::int64_t in,
                                      bool bias);

  // Bytes of every weight as the backend holds it, each checkpoint tensor
  // once (fused splits and tied embeddings are views of one import).
  std::size_t held_bytes() const { return held_; }

  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& [name, e] : store_.tensors()) {
      if (used_.count(name) == 0) out.push_back(name);
    }
    return out;
  }

 private:
  // A float matrix quantized as LoadQuantization asks and imported; the
  // quantized copy is kept under `name`.
  Result<Weight> quantized_import(const Tensor& host, const std::string& name);
  // Consecutive row ranges of `whole`, `rows` each.
  static Result<std::vector<Weight>> row_ranges(const Weight& whole,
                                                const std::vector<std::int64_t>& rows);

  // Counts a tensor as bound (once), for progress and the unused report.
  void mark_used(const std::string& name, const TensorEntry& e) {
    if (used_.insert(name).second) bytes_used_ += e.nbytes;
  }

  const WeightStore& store_;
  const QuantConfig& quant_;
  tensor::Backend& backend_;
  std::optional<LoadQuantization> at_load_;
  std::map<std::string, std::unique_ptr<QuantizedMatrix>>& owned_;
  std::function<void(const LoadProgress&)> progress_;
  std::set<std::string> used_;
  std::uint64_t bytes_used_ = 0, bytes_total_ = 0;  // of the checkpoint, for progress
  std::size_t held_ = 0;

  // A quantized weight as imported: packed codes (or the backend's
  // dequantized copy), scales and biases.
  static std::size_t quantized_bytes(const Weight& w) {
    std::size_t n = 0;
    for (const Tensor* t : {&w.w, &w.quant.scales, &w.quant.biases}) {
      if (!t->empty()) n += t->nbytes();
    }
    return n;
  }

  void report() const {
    if (!progress_) return;
    LoadProgress p;
    p.tensors = used_.size();
    p.tensors_total = store_.tensors().size();
    p.bytes = bytes_used_;
    p.bytes_total = bytes_total_;
    progress_(p);
  }

  // MLX quantizes every matrix its group size divides; FP8 checkpoints keep
  // the embedding and lm_head in their float dtype (compressed-tensors'
  // convention), so quantizing at load does the same.
  bool quantize_at_load(const std::string& module, std::int64_t in) const {
    if (at_load_->fp8) return module != "model.embed_tokens" && module != "lm_head";
    return in % kLoadGroupSize == 0;
  }
};

}  // namespace mlxs::model
