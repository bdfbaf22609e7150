#include "kernel_bench.h"

#include "attention_bench.h"

#include <chrono>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "backend/cpu/cpu_backend.h"
#include "core/half.h"
#include "core/rng.h"
#include "machine.h"
#include "model/quantize.h"
#ifdef MLXS_HAVE_CUDA
#include "backend/cuda/copy_bandwidth.h"
#include "backend/cuda/cuda_backend.h"
#endif

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;
using tensor::DType;
using tensor::Tensor;

struct Shape {
  const char* name;
  std::int64_t n, k;
};

// Llama-3.1-8B's decode linears (q/k/v fused, gate/up fused), and its head.
// Rows of the prefill GEMMs timed (a 2,048-token chunk: compute-bound).
constexpr int kPrefillRows = 2048;
// Rows of a large decode step (a 512-stream serving run's).
constexpr int kLargeBatchRows = 512;
// Rows of a mid-sized decode step (GEMMs bound by the weights' bytes).
constexpr int kMidBatchRows = 64;

constexpr Shape kShapes[] = {
    {"qkv 6144x4096", 6144, 4096},         {"o 4096x4096", 4096, 4096},
    {"gate_up 28672x4096", 28672, 4096},   {"down 4096x14336", 4096, 14336},
    {"lm_head 128256x4096", 128256, 4096}, {"1B down 2048x8192", 2048, 8192},
    {"1B qkv 3072x2048", 3072, 2048},
};
// The large-batch GEMMs: the first four above, and a lone k or v
// projection (GQA's narrow outputs, as a model without fused q/k/v runs
// them).
constexpr Shape kGemmShapes[] = {
    kShapes[0], {"k/v 1024x4096", 1024, 4096}, kShapes[1], kShapes[2], kShapes[3]};

}  // namespace

core::Result<nlohmann::json> run_kernel_bench(const KernelBenchOptions& o) {
  std::unique_ptr<tensor::Backend> be;
  double bound_gbps = 0;
  if (o.backend == "cuda") {
#ifdef MLXS_HAVE_CUDA
    backend::cuda::CudaOptions co;
    co.device = o.device;
    co.graphs = false;
    MLXS_ASSIGN_OR_RETURN(be, backend::cuda::CudaBackend::create(co));
    MLXS_ASSIGN_OR_RETURN(
        auto bw, backend::cuda::measure_copy_bandwidth(o.device, std::size_t{1} << 30, 10));
    bound_gbps = bw.gbps_median;
#else
    return core::Status(core::ErrorCode::kUnsupported, "this build has no CUDA backend");
#endif
  } else {
    be = std::make_unique<backend::cpu::CpuBackend>(
        std::make_shared<backend::cpu::ThreadPool>(o.threads));
  }
  // The GEMMs of 2,048 rows run on CUDA only; the CPU plans decode rows.
  const bool gemms_too = o.backend == "cuda";
  tensor::StepCapacity cap;
  cap.max_tokens = gemms_too ? kPrefillRows : 8;
  cap.max_seqs = gemms_too ? kLargeBatchRows : 8;  // the attention step's sequences on CUDA
  cap.max_context = 32768;
  cap.max_logit_rows = gemms_too ? 64 : 8;  // finish_logits rows on CUDA
  cap.max_linear_in = 14336;
  cap.max_linear_out = 128256;
  cap.max_heads = kAttentionHeads;
  cap.max_head_dim = kAttentionHeadDim;
  MLXS_RETURN_IF_ERROR(be->plan_step(cap));
  core::Xoshiro256 rng(1);
  std::vector<std::uint16_t> host;
  // A bf16 weight of shape s with small random values, in `host`.
  auto draw = [&](const Shape& s) {
    host.resize(static_cast<std::size_t>(s.n * s.k));
    for (auto& v : host) v = core::f32_to_bf16((rng.uniform() - 0.5f) * 0.1f);
    return Tensor(host.data(), DType::kBF16, {s.n, s.k});
  };
  // A drawn weight quantized as at load: FP8 per output channel, 4- or
  // 8-bit affine in groups of 64.
  auto quantized_of = [&](const Shape& s, const char* format) {
    const Tensor hw = draw(s);
    if (std::strcmp(format, "fp8") == 0) return model::quantize_fp8_matrix(hw, 0);
    return model::quantize_affine_matrix(hw, std::strcmp(format, "int8") == 0 ? 8 : 4, 64, 0);
  };
  // `copies` bf16 weights of shape s, small random values (one draw, imported
  // `copies` times).
  auto weights_of = [&](const Shape& s, int copies) -> core::Result<std::vector<tensor::Weight>> {
    const Tensor hw = draw(s);
    std::vector<tensor::Weight> weights(static_cast<std::size_t>(copies));
    for (auto& w : weights) {
      MLXS_ASSIGN_OR_RETURN(w.w, be->import_tensor(hw, false));
    }
    return weights;
  };
  // Microseconds per linear of M rows, the weights taken in turn, after
  // `warm` untimed calls.
  auto time_linear = [&](const std::vector<tensor::Weight>& weights, const Shape& s, std::int64_t M,
                         int warm, int reps) -> core::Result<double> {
    std::vector<float> xh(static_cast<std::size_t>(M * s.k), 0.5f);
    MLXS_ASSIGN_OR_RETURN(Tensor x,
                          be->import_tensor(Tensor(xh.data(), DType::kF32, {M, s.k}), true));
    MLXS_ASSIGN_OR_RETURN(auto ybuf, be->allocate(static_cast<std::size_t>(M * s.n) * 4));
    Tensor y(ybuf->data(), DType::kF32, {M, s.n}, be->device());
    auto run = [&](int i) {
      const tensor::LinearOut out{&weights[static_cast<std::size_t>(i) % weights.size()], y};
      be->linear(x, std::span<const tensor::LinearOut>(&out, 1));
    };
    for (int i = 0; i < warm; ++i) run(i);
    MLXS_RETURN_IF_ERROR(be->synchronize());
    const auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) run(i);
    MLXS_RETURN_IF_ERROR(be->synchronize());
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / reps;
  };
  // Enough copies of a weight of `bytes` to exceed a 60 MB cache several
  // times over.
  auto copies_for = [](std::size_t bytes) {
    return static_cast<int>(std::max<std::size_t>(2, (512u << 20) / bytes + 1));
  };
  // A timed linear's row: its time and bandwidth against the bound.
  auto timed_row = [&](const Shape& s, std::size_t bytes, double us) {
    const double gbps = static_cast<double>(bytes) / (us * 1e-6) / 1e9;
    return nlohmann::json{{"shape", s.name},
                          {"us", us},
                          {"gbps", gbps},
                          {"fraction_of_bound", bound_gbps > 0 ? gbps / bound_gbps : 0.0}};
  };
  nlohmann::json linears = nlohmann::json::array();
  for (const Shape& s : kShapes) {
    const std::size_t bytes = static_cast<std::size_t>(s.n * s.k) * 2;
    const int copies = copies_for(bytes);
    MLXS_ASSIGN_OR_RETURN(const auto weights, weights_of(s, copies));
    for (int M : {1, 8}) {
      MLXS_ASSIGN_OR_RETURN(const double us, time_linear(weights, s, M, copies, o.reps));
      nlohmann::json row = timed_row(s, bytes, us);
      row["rows"] = M;
      linears.push_back(std::move(row));
    }
  }
  // One-row products of the same shapes quantized as at load (FP8 per output
  // channel, 4- and 8-bit affine in groups of 64), on CUDA: GB/s of the bytes
  // read (codes, scales and biases).
  nlohmann::json quantized = nlohmann::json::array();
  for (const char* format : {"fp8", "int4", "int8"}) {
    for (std::size_t si = 0; gemms_too && si < std::size(kShapes); ++si) {
      const Shape& s = kShapes[si];
      const model::QuantizedMatrix q = quantized_of(s, format);
      std::size_t bytes = 0;
      for (const Tensor* t : {&q.weight.w, &q.weight.quant.scales, &q.weight.quant.biases}) {
        if (!t->empty()) bytes += t->nbytes();
      }
      const int copies = copies_for(bytes);
      std::vector<tensor::Weight> weights;
      for (int c = 0; c < copies; ++c) {
        MLXS_ASSIGN_OR_RETURN(auto w, be->import_quantized(q.weight));
        weights.push_back(w);
      }
      MLXS_ASSIGN_OR_RETURN(const double us, time_linear(weights, s, 1, copies, o.reps));
      nlohmann::json row = timed_row(s, bytes, us);
      row["format"] = format;
      quantized.push_back(std::move(row));
    }
  }
  // The step's last work on CUDA: a 128,256-token row finished as a greedy
  // id, or drawn at temperature 1 (alone, with min_p, top_k, top_p, top_k
  // and top_p), at 1 and 64 rows: microseconds per finish_logits, launch to
  // ids on the host.
  nlohmann::json finishing = nlohmann::json::array();
  if (gemms_too) {
    constexpr std::int64_t kVocab = 128256;
    constexpr int kRows = 64;
    std::vector<float> lh(static_cast<std::size_t>(kRows * kVocab));
    for (auto& v : lh) v = (rng.uniform() - 0.5f) * 16.0f;  // a few dominant tokens
    MLXS_ASSIGN_OR_RETURN(Tensor logits,
                          be->import_tensor(Tensor(lh.data(), DType::kF32, {kRows, kVocab}), true));
    struct Kind {
      const char* name;
      bool drawn;  // else greedy: argmax on the device
      std::int32_t top_k;
      float top_p;
      float min_p;
    };
    // The filters alone and together, so that each one's share shows.
    for (const Kind& kind :
         {Kind{"greedy", false, 0, 1.0f, 0.0f}, Kind{"T 1", true, 0, 1.0f, 0.0f},
          Kind{"T 1, min_p 0.05", true, 0, 1.0f, 0.05f},
          Kind{"T 1, top_k 40", true, 40, 1.0f, 0.0f}, Kind{"T 1, top_p 0.9", true, 0, 0.9f, 0.0f},
          Kind{"T 1, top_k 40, top_p 0.9", true, 40, 0.9f, 0.0f}}) {
      for (int rows : {1, kRows}) {
        tensor::Backend::LogitsRequest req;
        std::vector<std::uint8_t> full(static_cast<std::size_t>(rows), 0);
        std::vector<tensor::Backend::RowDraw> draws;
        for (int r = 0; kind.drawn && r < rows; ++r) {
          draws.push_back({r, 1.0f, kind.top_k, kind.top_p, kind.min_p, 0.5});
        }
        req.full_rows = full;
        req.draws = draws;
        // The sampler scales rows in place: each call finishes a fresh copy.
        const Tensor view(logits.data, DType::kF32, {rows, kVocab}, be->device());
        const int reps = std::max(1, o.reps / 5);
        double total_us = 0;
        for (int i = 0; i < reps + 1; ++i) {
          MLXS_RETURN_IF_ERROR(be->upload(lh.data(), view));
          MLXS_RETURN_IF_ERROR(be->synchronize());
          const auto t0 = Clock::now();
          MLXS_RETURN_IF_ERROR(be->finish_logits(view, req).status());
          if (i > 0)
            total_us += std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        }
        finishing.push_back({{"sampling", kind.name}, {"rows", rows}, {"us", total_us / reps}});
      }
    }
  }
  // Large-batch GEMMs on Llama-3.1-8B's layer (kGemmShapes): a 512-row decode step and a
  // 2,048-token prefill chunk, bf16 and FP8 weights (per channel, as at load; x quantized per token
  // inside the linear, as served): TFLOP/s, one weight reused (compute is timed).
  nlohmann::json gemms = nlohmann::json::array();
  for (const char* format : {"bf16", "fp8"}) {
    for (std::size_t si = 0; gemms_too && si < std::size(kGemmShapes); ++si) {
      const Shape& s = kGemmShapes[si];
      const bool fp8 = std::strcmp(format, "fp8") == 0;
      std::optional<model::QuantizedMatrix> q;
      if (fp8) q = quantized_of(s, format);
      // Copies of the weight past the cache where its bytes bound the time
      // (the mid-sized step), one where its FLOPs do.
      auto weights_for = [&](int rows) -> core::Result<std::vector<tensor::Weight>> {
        const int copies = rows == kMidBatchRows
                               ? copies_for(static_cast<std::size_t>(s.n * s.k) * (fp8 ? 1 : 2))
                               : 1;
        if (!fp8) return weights_of(s, copies);
        std::vector<tensor::Weight> out;
        for (int c = 0; c < copies; ++c) {
          MLXS_ASSIGN_OR_RETURN(auto w, be->import_quantized(q->weight));
          out.push_back(w);
        }
        return out;
      };
      for (const int rows : {kMidBatchRows, kLargeBatchRows, kPrefillRows}) {
        MLXS_ASSIGN_OR_RETURN(const auto weights, weights_for(rows));
        MLXS_ASSIGN_OR_RETURN(const double us,
                              time_linear(weights, s, rows, 3, std::max(1, o.reps / 5)));
        const double tflops = 2.0 * static_cast<double>(rows * s.n * s.k) / (us * 1e-6) / 1e12;
        gemms.push_back({{"shape", s.name},
                         {"format", format},
                         {"rows", rows},
                         {"us", us},
                         {"tflops", tflops}});
      }
    }
  }
  nlohmann::json attention = nlohmann::json::array();
  if (gemms_too) {
    MLXS_ASSIGN_OR_RETURN(attention, time_decode_attention(*be, kLargeBatchRows, bound_gbps,
                                                           std::max(1, o.reps / 5)));
  }
  return nlohmann::json{{"benchmark", "kernels"},
                        {"machine", describe_machine()},
                        {"backend", be->describe()},
                        {"bound_gbps", bound_gbps},
                        {"bound", "device-to-device copy, bytes read + written"},
                        {"linear", linears},
                        {"quantized", quantized},
                        {"finish_logits", finishing},
                        {"gemm", gemms},
                        {"attention", attention}};
}

std::string format_kernel_table(const nlohmann::json& r) {
  std::string out = fmt::format("kernel benchmark on {}; copy bound {:.0f} GB/s\n",
                                r["backend"].get<std::string>(), r["bound_gbps"].get<double>());
  out += fmt::format("{:<24} {:>5} {:>10} {:>10} {:>9}\n", "linear (bf16)", "rows", "us", "GB/s",
                     "of bound");
  for (const auto& l : r["linear"]) {
    out += fmt::format("{:<24} {:>5} {:>10.1f} {:>10.0f} {:>8.1f}%\n",
                       l["shape"].get<std::string>(), l["rows"].get<int>(), l["us"].get<double>(),
                       l["gbps"].get<double>(), 100.0 * l["fraction_of_bound"].get<double>());
  }
  if (r.contains("quantized") && !r["quantized"].empty()) {
    out += fmt::format("{:<24} {:>5} {:>10} {:>10} {:>9}\n", "linear (one row)", "quant", "us",
                       "GB/s", "of bound");
    for (const auto& l : r["quantized"]) {
      out +=
          fmt::format("{:<24} {:>5} {:>10.1f} {:>10.0f} {:>8.1f}%\n", l["shape"].get<std::string>(),
                      l["format"].get<std::string>(), l["us"].get<double>(),
                      l["gbps"].get<double>(), 100.0 * l["fraction_of_bound"].get<double>());
    }
  }
  if (r.contains("finish_logits") && !r["finish_logits"].empty()) {
    out += fmt::format("{:<32} {:>5} {:>10}\n", "finish_logits (128,256 tokens)", "rows", "us");
    for (const auto& f : r["finish_logits"]) {
      out += fmt::format("{:<32} {:>5} {:>10.1f}\n", f["sampling"].get<std::string>(),
                         f["rows"].get<int>(), f["us"].get<double>());
    }
  }
  if (r.contains("gemm") && !r["gemm"].empty()) {
    out += fmt::format("{:<24} {:>6} {:>5} {:>10} {:>10}\n", "gemm (f32 x in)", "weight", "rows",
                       "us", "TFLOP/s");
    for (const auto& g : r["gemm"]) {
      out += fmt::format("{:<24} {:>6} {:>5} {:>10.1f} {:>10.1f}\n", g["shape"].get<std::string>(),
                         g.value("format", "bf16"), g["rows"].get<int>(), g["us"].get<double>(),
                         g["tflops"].get<double>());
    }
  }
  if (r.contains("attention") && !r["attention"].empty()) {
    out += fmt::format("{:<24} {:>5} {:>6} {:>10} {:>10} {:>9}\n", "decode attention", "rows",
                       "keys", "us", "GB/s", "of bound");
    for (const auto& a : r["attention"]) {
      out += fmt::format("{:<24} {:>5} {:>6} {:>10.1f} {:>10.0f} {:>8.1f}%\n",
                         a["cache"].get<std::string>() + " cache", a["rows"].get<int>(),
                         a["keys"].get<int>(), a["us"].get<double>(), a["gbps"].get<double>(),
                         100.0 * a["fraction_of_bound"].get<double>());
    }
  }
  return out;
}

}  // namespace mlxs::bench
