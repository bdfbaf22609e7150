// Every Backend op on the GPU against the CPU backend on random shapes (the
// CPU is the reference, as llama.cpp's test-backend-ops does across its
// backends). Label: gpu.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/half.h"
#include "core/rng.h"
#include "model/quant_binder.h"

namespace mlxs::backend {
namespace {

using tensor::DType;
using tensor::Tensor;

struct Pair {
  std::shared_ptr<cpu::ThreadPool> pool = std::make_shared<cpu::ThreadPool>(2);
  cpu::CpuBackend cpu{pool};
  std::unique_ptr<cuda::CudaBackend> gpu;
  explicit Pair(bool exact = true, int qgemm_min_rows = cuda::CudaOptions{}.qgemm_min_rows) {
    create(exact, qgemm_min_rows);
  }
  // The serving path (not exact) with environment switch `var` = `value`
  // while the GPU backend is created (it reads its switches then).
  Pair(const char* var, const char* value) : Pair({{var, value}}) {}
  // The same with several switches.
  explicit Pair(std::initializer_list<std::pair<const char*, const char*>> env) {
    for (const auto& [var, value] : env) setenv(var, value, 1);
    create(false, cuda::CudaOptions{}.qgemm_min_rows);
    for (const auto& [var, value] : env) unsetenv(var);
  }
  void create(bool exact, int qgemm_min_rows) {
    cuda::CudaOptions o;
    o.exact_f32 = exact;
    o.qgemm_min_rows = qgemm_min_rows;
    auto g = cuda::CudaBackend::create(o);
    EXPECT_TRUE(g.is_ok()) << g.status().to_string();
    if (g) gpu = std::move(g).value();
  }
  void plan(int tokens, int seqs, int context, std::int64_t width, int experts = 0, int top_k = 0,
            std::int64_t moe_ffn = 0) {
    tensor::StepCapacity c;
    c.max_tokens = tokens;
    c.max_seqs = seqs;
    c.max_context = context;
    c.max_logit_rows = tokens;
    c.max_linear_in = width;
    c.max_linear_out = width;
    c.max_stacked_out = width;
    c.max_heads = 8;
    c.max_head_dim = 128;
    c.moe_experts = experts;
    c.moe_top_k = top_k;
    c.moe_ffn = moe_ffn;
    ASSERT_TRUE(cpu.plan_step(c).is_ok());
    ASSERT_TRUE(gpu->plan_step(c).is_ok());
  }
};

// Host storage that outlives the views both backends import.
struct HostData {
  std::vector<std::vector<std::uint8_t>> blobs;
  Tensor random(DType t, std::initializer_list<std::int64_t> shape, core::Xoshiro256& rng,
                float scale = 1.0f) {
    Tensor h(nullptr, t, shape);
    const auto n = static_cast<std::size_t>(h.numel());
    blobs.emplace_back(n * tensor::dtype_size(t));
    auto& b = blobs.back();
    for (std::size_t i = 0; i < n; ++i) {
      const float v = (rng.uniform() * 2.0f - 1.0f) * scale;
      if (t == DType::kF32) {
        std::memcpy(b.data() + i * 4, &v, 4);
      } else {
        const std::uint16_t x = t == DType::kBF16 ? core::f32_to_bf16(v) : core::f32_to_f16(v);
        std::memcpy(b.data() + i * 2, &x, 2);
      }
    }
    h.data = b.data();
    return h;
  }
};

std::vector<float> fetch(tensor::Backend& be, const Tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  const auto st = be.copy_to_host(t, out.data());
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return out;
}

double rel_error(const std::vector<float>& got, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - ref[i]) * static_cast<double>(got[i] - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// A tensor as both backends see it (f32 activations are imported as copies).
struct Both {
  Tensor c, g;
};
Both both(Pair& p, const Tensor& host, bool as_f32) {
  Both b;
  auto c = p.cpu.import_tensor(host, as_f32);
  auto g = p.gpu->import_tensor(host, as_f32);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_TRUE(g.is_ok()) << g.status().to_string();
  if (c) b.c = *c;
  if (g) b.g = *g;
  return b;
}

// The relative error of one linear of M random input rows through wg on the
// GPU against wc on the CPU (the same weight, imported by each).
double linear_error(Pair& p, HostData& hd, core::Xoshiro256& rng, const tensor::Weight& wc,
                    const tensor::Weight& wg, std::int64_t M) {
  const std::int64_t N = wc.out_features(), K = wc.in_features();
  auto x = both(p, hd.random(DType::kF32, {M, K}, rng), true);
  auto yc_buf = p.cpu.allocate(static_cast<std::size_t>(M * N) * 4).value();
  auto yg_buf = p.gpu->allocate(static_cast<std::size_t>(M * N) * 4).value();
  const tensor::LinearOut oc{&wc, Tensor(yc_buf->data(), DType::kF32, {M, N})};
  const tensor::LinearOut og{&wg,
                             Tensor(yg_buf->data(), DType::kF32, {M, N}, tensor::Device::kCuda)};
  p.cpu.linear(x.c, std::span<const tensor::LinearOut>(&oc, 1));
  p.gpu->linear(x.g, std::span<const tensor::LinearOut>(&og, 1));
  return rel_error(fetch(*p.gpu, og.out), fetch(p.cpu, oc.out));
}

TEST(CudaOps, LinearEveryDtypeAndRowCount) {
  for (bool exact : {true, false}) {
    Pair p(exact);
    ASSERT_TRUE(p.gpu);
    p.plan(64, 4, 64, 1056);
    core::Xoshiro256 rng(11);
    HostData hd;
    for (DType wt : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (std::int64_t M : {1, 3, 8, 9, 40}) {
        for (auto [K, N] : {std::pair<std::int64_t, std::int64_t>{64, 48}, {1056, 40}, {24, 8}}) {
          SCOPED_TRACE(
              fmt::format("{} M={} K={} N={} exact={}", tensor::dtype_name(wt), M, K, N, exact));
          auto x = both(p, hd.random(DType::kF32, {M, K}, rng), true);
          tensor::Weight wc, wg;
          const Tensor wh = hd.random(wt, {N, K}, rng, 0.3f);
          wc.w = *p.cpu.import_tensor(wh, false);
          wg.w = *p.gpu->import_tensor(wh, false);
          const Tensor bh = hd.random(DType::kF32, {N}, rng);
          wc.bias = *p.cpu.import_tensor(bh, true);
          wg.bias = *p.gpu->import_tensor(bh, true);
          auto yc_buf = p.cpu.allocate(static_cast<std::size_t>(M * N) * 4).value();
          auto yg_buf = p.gpu->allocate(static_cast<std::size_t>(M * N) * 4).value();
          Tensor yc(yc_buf->data(), DType::kF32, {M, N});
          Tensor yg(yg_buf->data(), DType::kF32, {M, N}, tensor::Device::kCuda);
          const tensor::LinearOut oc{&wc, yc}, og{&wg, yg};
          p.cpu.linear(x.c, std::span<const tensor::LinearOut>(&oc, 1));
          p.gpu->linear(x.g, std::span<const tensor::LinearOut>(&og, 1));
          const double err = rel_error(fetch(*p.gpu, yg), fetch(p.cpu, yc));
          // f32 math: rounding only. 16-bit activations (tensor cores): ~2^-8.
          const double bound = (exact || M == 1 || wt == DType::kF32) ? 1e-5 : 1e-2;
          EXPECT_LT(err, bound);
          if (M <= 3) {  // the MLP's down projection with the activation fused in
            auto up = both(p, hd.random(DType::kF32, {M, K}, rng), true);
            auto gate = both(p, hd.random(DType::kF32, {M, K}, rng), true);
            p.cpu.gated_linear(gate.c, up.c, tensor::Activation::kSilu, oc);
            p.gpu->gated_linear(gate.g, up.g, tensor::Activation::kSilu, og);
            EXPECT_LT(rel_error(fetch(*p.gpu, yg), fetch(p.cpu, yc)), bound) << "gated";
          }
        }
      }
    }
  }
}

TEST(CudaOps, OneRowGemvSplitsRowsOverWarps) {
  // One input row: up to four warps share each weight row, a piece of K
  // each, on the real models' row counts and an odd one. K = 4104 takes four
  // warps, 2056 two and 1032 one; each leaves a partial last pass of loads.
  Pair p(false);
  ASSERT_TRUE(p.gpu);
  p.plan(8, 2, 64, 6144);
  core::Xoshiro256 rng(5);
  HostData hd;
  for (std::int64_t N : {6144, 4647, 4224}) {
    for (std::int64_t K : {4104, 2056, 1032}) {
      SCOPED_TRACE(fmt::format("N={} K={}", N, K));
      tensor::Weight wc, wg;
      const Tensor wh = hd.random(DType::kBF16, {N, K}, rng, 0.3f);
      wc.w = *p.cpu.import_tensor(wh, false);
      wg.w = *p.gpu->import_tensor(wh, false);
      EXPECT_LT(linear_error(p, hd, rng, wc, wg, 1), 1e-5);
    }
  }
}

TEST(CudaOps, GatedMlpAtOneRowFusesTheActivation) {
  // One input row of 16-bit weights: the gate and up GEMV writes act(gate) *
  // up itself (two warps per row at K = 2056, four at 4104); more rows (and
  // f32 weights) take linear + gated_linear.
  Pair p(false);
  ASSERT_TRUE(p.gpu);
  p.plan(8, 2, 64, 4104);
  core::Xoshiro256 rng(13);
  HostData hd;
  const std::int64_t F = 1000;
  for (auto [wt, K] :
       {std::pair{DType::kBF16, std::int64_t{4104}}, {DType::kF16, 2056}, {DType::kF32, 264}}) {
    for (tensor::Activation act : {tensor::Activation::kSilu, tensor::Activation::kGeluTanh}) {
      std::vector<tensor::Weight> wc(3), wg(3);
      const std::int64_t shapes[3][2] = {{F, K}, {F, K}, {K, F}};
      for (int i = 0; i < 3; ++i) {
        const Tensor wh = hd.random(wt, {shapes[i][0], shapes[i][1]}, rng, 0.3f);
        wc[i].w = *p.cpu.import_tensor(wh, false);
        wg[i].w = *p.gpu->import_tensor(wh, false);
      }
      const Tensor bh = hd.random(DType::kF32, {F}, rng);  // a bias on up only
      wc[1].bias = *p.cpu.import_tensor(bh, true);
      wg[1].bias = *p.gpu->import_tensor(bh, true);
      for (std::int64_t M : {1, 3}) {
        SCOPED_TRACE(
            fmt::format("{} act={} M={}", tensor::dtype_name(wt), static_cast<int>(act), M));
        auto x = both(p, hd.random(DType::kF32, {M, K}, rng), true);
        std::vector<std::unique_ptr<tensor::DeviceBuffer>> bufs;
        auto make = [&](tensor::Backend& be, std::int64_t cols, tensor::Device d) {
          bufs.push_back(be.allocate(static_cast<std::size_t>(M * cols) * 4).value());
          return Tensor(bufs.back()->data(), DType::kF32, {M, cols}, d);
        };
        const tensor::Device c = tensor::Device::kCpu, g = tensor::Device::kCuda;
        const Tensor gc = make(p.cpu, F, c), uc = make(p.cpu, F, c), yc = make(p.cpu, K, c);
        const Tensor gg = make(*p.gpu, F, g), ug = make(*p.gpu, F, g), yg = make(*p.gpu, K, g);
        p.cpu.gated_mlp(x.c, wc[0], wc[1], act, gc, uc, tensor::LinearOut{&wc[2], yc});
        p.gpu->gated_mlp(x.g, wg[0], wg[1], act, gg, ug, tensor::LinearOut{&wg[2], yg});
        // f32 math on one row; 16-bit activations for the GEMMs past it.
        EXPECT_LT(rel_error(fetch(*p.gpu, yg), fetch(p.cpu, yc)),
                  M == 1 || wt == DType::kF32 ? 1e-5 : 1e-2);
      }
    }
  }
}

// A packed MLX affine weight (random codes, bf16 or f32 scales and biases)
// and the storage its views point into.
struct PackedWeight {
  std::vector<std::uint32_t> words;
  std::vector<std::uint8_t> scales, biases;
  tensor::Weight weight;
};
PackedWeight make_packed(std::int64_t N, std::int64_t K, int bits, int group, DType param,
                         core::Xoshiro256& rng) {
  PackedWeight h;
  h.words.resize(static_cast<std::size_t>(N * K * bits / 32));
  for (auto& w : h.words) w = static_cast<std::uint32_t>(rng.next());
  const std::int64_t groups = N * (K / group);
  const std::size_t width = tensor::dtype_size(param);
  h.scales.resize(static_cast<std::size_t>(groups) * width);
  h.biases.resize(h.scales.size());
  for (std::int64_t i = 0; i < groups; ++i) {
    const float sc = (rng.uniform() * 2.0f - 1.0f) * 0.02f;  // signed, as MLX stores them
    const float bi = (rng.uniform() * 2.0f - 1.0f) * 0.1f;
    for (auto [v, out] : {std::pair{sc, h.scales.data()}, std::pair{bi, h.biases.data()}}) {
      if (param == DType::kF32) {
        std::memcpy(out + i * 4, &v, 4);
      } else {
        const std::uint16_t b = core::f32_to_bf16(v);
        std::memcpy(out + i * 2, &b, 2);
      }
    }
  }
  h.weight.w = Tensor(h.words.data(), DType::kU32, {N, K * bits / 32});
  h.weight.quant.format = tensor::QuantFormat::kAffine;
  h.weight.quant.bits = bits;
  h.weight.quant.group_size = group;
  h.weight.quant.in_features = K;
  h.weight.quant.scales = Tensor(h.scales.data(), param, {N, K / group});
  h.weight.quant.biases = Tensor(h.biases.data(), param, {N, K / group});
  return h;
}

// One packed weight (with a bias) imported by both backends, and the
// relative difference of their linear() over M rows of x.
struct PackedPair {
  tensor::Weight c, g;
  PackedPair(Pair& p, const PackedWeight& h, HostData& hd, core::Xoshiro256& rng) {
    auto wc = p.cpu.import_quantized(h.weight);
    auto wg = p.gpu->import_quantized(h.weight);
    EXPECT_TRUE(wc.is_ok() && wg.is_ok()) << wg.status().to_string();
    if (!wc.is_ok() || !wg.is_ok()) return;
    c = *wc;
    g = *wg;
    const Tensor bh = hd.random(DType::kF32, {c.out_features()}, rng);
    c.bias = *p.cpu.import_tensor(bh, true);
    g.bias = *p.gpu->import_tensor(bh, true);
  }
  double linear_error(Pair& p, HostData& hd, core::Xoshiro256& rng, std::int64_t M,
                      float x_scale = 1.0f) const {
    const std::int64_t K = c.in_features(), N = c.out_features();
    auto x = both(p, hd.random(DType::kF32, {M, K}, rng, x_scale), true);
    auto yc_buf = p.cpu.allocate(static_cast<std::size_t>(M * N) * 4).value();
    auto yg_buf = p.gpu->allocate(static_cast<std::size_t>(M * N) * 4).value();
    Tensor yc(yc_buf->data(), DType::kF32, {M, N});
    Tensor yg(yg_buf->data(), DType::kF32, {M, N}, tensor::Device::kCuda);
    const tensor::LinearOut oc{&c, yc}, og{&g, yg};
    p.cpu.linear(x.c, std::span<const tensor::LinearOut>(&oc, 1));
    p.gpu->linear(x.g, std::span<const tensor::LinearOut>(&og, 1));
    if (!p.gpu->synchronize().is_ok()) return INFINITY;
    return rel_error(fetch(*p.gpu, yg), fetch(p.cpu, yc));
  }
};

// qgemm_min_rows: 2 sends 2-64 rows to the tensor-core qgemm (the default),
// 0 keeps 1-8 rows on the quantized GEMV and more on bf16 tiles + cuBLASLt.
class PackedAffine : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(CudaOps, PackedAffine, ::testing::Values(2, 0));

TEST_P(PackedAffine, LinearAndEmbedding) {
  // Kept packed only outside exact mode; the CPU's exact kernels are the
  // reference.
  const int qgemm_from = GetParam();
  Pair p(false, qgemm_from);
  ASSERT_TRUE(p.gpu);
  p.cpu.set_int8_activations(false);
  p.plan(80, 4, 64, 1024);
  core::Xoshiro256 rng(21);
  HostData hd;
  for (int bits : {4, 8}) {
    for (int group : {32, 64, 128}) {
      for (DType param : {DType::kBF16, DType::kF32}) {
        const std::int64_t K = 512, N = 70;  // N not a multiple of the warps per block
        const PackedWeight h = make_packed(N, K, bits, group, param, rng);
        const PackedPair w(p, h, hd, rng);
        ASSERT_EQ(w.g.w.device, tensor::Device::kCuda) << "kept packed on the device";
        for (std::int64_t M : {1, 2, 3, 8, 16, 20, 32, 33, 64, 80}) {
          SCOPED_TRACE(
              fmt::format("bits={} group={} {} M={}", bits, group, tensor::dtype_name(param), M));
          // Three rows of large activations (outlier channels reach
          // thousands): the f16 path must not overflow.
          const double err = w.linear_error(p, hd, rng, M, M == 3 ? 3000.0f : 1.0f);
          // The quantized GEMV: the exact codes; 4 bits against x rounded
          // to f16, 8 bits in f32. Tensor cores (qgemm or bf16 tiles + GEMM):
          // bf16 weights and bf16 activations.
          // 4-bit codes at 1-2 rows always take the GEMV
          // (kQgemv4PreferredRows).
          // Up to 4 rows take the tensor-core GEMV at groups of 64 and 128
          // (K = 512): x rounded to f16 for 8-bit codes too.
          const bool mma = M <= 4 && group >= 64;
          const bool gemv =
              M <= 8 && (qgemm_from == 0 || M < qgemm_from || (bits == 4 && M <= 2) || mma);
          EXPECT_LT(err, !gemv ? 1e-2 : (bits == 4 || mma) ? 2e-3 : 1e-5);
        }
        // The same weight as an embedding table.
        const std::vector<std::int32_t> tokens = {5, 0, 69, 5};
        const std::vector<std::int32_t> positions = {0, 1, 2, 3};
        const std::vector<std::int32_t> blocks = {0};
        const std::vector<tensor::SeqSlice> seqs = {{0, 4, 4, blocks.data(), 1}};
        const std::vector<std::int32_t> logit_rows = {3};
        const tensor::StepBatch batch{tokens, positions, seqs, logit_rows};
        p.cpu.begin_step(batch);
        p.gpu->begin_step(batch);
        auto e = both(p, hd.random(DType::kF32, {4, K}, rng), true);
        p.cpu.embed(w.c, 0.5f, e.c, 0);
        p.gpu->embed(w.g, 0.5f, e.g, 0);
        p.cpu.end_step();
        p.gpu->end_step();
        EXPECT_LT(rel_error(fetch(*p.gpu, e.g), fetch(p.cpu, e.c)), 1e-6);
      }
    }
  }
}

TEST(CudaOps, PackedWeightWideEnoughForOneBlockPerTile) {
  // Enough weight tiles to fill the device without splitting K: qgemm
  // writes y (and adds the bias) itself instead of summing partial products,
  // in the mma kernel (4 bits, bf16 scales, 128 rows a block) and the WMMA
  // one (8 bits, 64 rows a block).
  Pair p(false);
  ASSERT_TRUE(p.gpu);
  p.cpu.set_int8_activations(false);
  p.plan(16, 2, 16, 81920);
  core::Xoshiro256 rng(8);
  HostData hd;
  for (auto [bits, N] :
       {std::pair{4, std::int64_t{81920 - 3}}, std::pair{8, std::int64_t{40960 - 3}}}) {
    SCOPED_TRACE(fmt::format("bits={}", bits));
    const PackedWeight h = make_packed(N, 256, bits, 64, DType::kBF16, rng);
    const PackedPair w(p, h, hd, rng);
    EXPECT_LT(w.linear_error(p, hd, rng, 5), 1e-2);
  }
}

TEST(CudaOps, PackedGemvLongRowsAndManyRows) {
  // The 4-bit GEMV's bandwidth path (1-4 rows): rows longer than one pass
  // of its lanes with a partial last pass (K = 5248: 164 chunks of 32
  // codes), an odd row count (the last warp's second row is past the end),
  // and more row pairs than the grid has warps (9001 rows: the warps stride
  // over them). 5 rows take the word-per-lane kernel.
  Pair p(false, 0);  // no qgemm: 1-8 rows stay on the GEMV
  ASSERT_TRUE(p.gpu);
  p.cpu.set_int8_activations(false);
  p.plan(8, 2, 16, 9001);
  core::Xoshiro256 rng(11);
  HostData hd;
  for (auto [N, K, group] : {std::tuple{std::int64_t{37}, std::int64_t{5248}, 64},
                             std::tuple{std::int64_t{37}, std::int64_t{5248}, 128},
                             std::tuple{std::int64_t{9001}, std::int64_t{256}, 32}}) {
    const PackedWeight h = make_packed(N, K, 4, group, DType::kBF16, rng);
    const PackedPair w(p, h, hd, rng);
    for (std::int64_t M : {1, 2, 4, 5}) {
      SCOPED_TRACE(fmt::format("N={} K={} group={} M={}", N, K, group, M));
      EXPECT_LT(w.linear_error(p, hd, rng, M), 2e-3);
    }
  }
}

// M rows of output for each of several weights, on both backends: what one
// linear() call over weights sharing x writes.
struct LinearOuts {
  std::vector<std::unique_ptr<tensor::DeviceBuffer>> bufs;
  std::vector<tensor::LinearOut> c, g;
  LinearOuts(Pair& p, const std::vector<tensor::Weight>& wc, const std::vector<tensor::Weight>& wg,
             std::int64_t M) {
    for (std::size_t i = 0; i < wc.size(); ++i) {
      const std::int64_t N = wc[i].out_features();
      bufs.push_back(p.cpu.allocate(static_cast<std::size_t>(M * N) * 4).value());
      c.push_back({&wc[i], Tensor(bufs.back()->data(), DType::kF32, {M, N})});
      bufs.push_back(p.gpu->allocate(static_cast<std::size_t>(M * N) * 4).value());
      g.push_back(
          {&wg[i], Tensor(bufs.back()->data(), DType::kF32, {M, N}, tensor::Device::kCuda)});
    }
  }
  // Both backends' linear() of x; then output i's relative difference.
  void run(Pair& p, const Both& x) const {
    p.cpu.linear(x.c, c);
    p.gpu->linear(x.g, g);
  }
  double error(Pair& p, std::size_t i) const {
    return rel_error(fetch(*p.gpu, g[i].out), fetch(p.cpu, c[i].out));
  }
};

TEST(CudaOps, PackedAndPlainWeightsSharingOneInput) {
  // q/k/v-style: two packed weights in one quantized GEMV launch, a third of
  // other bits in its own, and a plain one, all reading the same x.
  Pair p(false);
  ASSERT_TRUE(p.gpu);
  p.cpu.set_int8_activations(false);
  p.plan(16, 2, 16, 256);
  core::Xoshiro256 rng(5);
  HostData hd;
  const std::int64_t K = 256;
  const PackedWeight a = make_packed(70, K, 4, 64, DType::kBF16, rng);
  const PackedWeight b = make_packed(33, K, 4, 32, DType::kBF16, rng);
  const PackedWeight c = make_packed(40, K, 8, 128, DType::kF32, rng);
  std::vector<tensor::Weight> wc, wg;
  for (const PackedWeight* h : {&a, &b, &c}) {
    wc.push_back(*p.cpu.import_quantized(h->weight));
    wg.push_back(*p.gpu->import_quantized(h->weight));
  }
  const Tensor plain = hd.random(DType::kBF16, {20, K}, rng, 0.3f);
  wc.push_back(tensor::Weight{*p.cpu.import_tensor(plain, false), {}, {}});
  wg.push_back(tensor::Weight{*p.gpu->import_tensor(plain, false), {}, {}});
  for (std::int64_t M : {1, 5}) {
    auto x = both(p, hd.random(DType::kF32, {M, K}, rng), true);
    const LinearOuts outs(p, wc, wg, M);
    outs.run(p, x);
    for (std::size_t i = 0; i < outs.c.size(); ++i) {
      SCOPED_TRACE(fmt::format("M={} weight {}", M, i));
      // Five rows go to qgemm (bf16 products), one to the quantized GEMV.
      EXPECT_LT(outs.error(p, i), i < 2 && M == 1 ? 2e-3 : 1e-2);
    }
  }
}

TEST(CudaOps, PackedGemvSegmentsOfOneGroup) {
  // The quantized GEMV over three weights of one bit width and group size
  // sharing x in one launch: row counts that end inside a 16-row tile (and
  // a row pair), K of 1, 3 and 10 stages of 512 columns (warps with no
  // stage, slices of different lengths), 4- and 8-bit codes, every group
  // size, and x with outliers in the thousands. Groups of 64 and 128 take
  // the tensor-core GEMV (x rounded to f16, f32 sums), groups of 32 the
  // CUDA-core one (4 bits: f16 sums; 8 bits: f32).
  Pair p(false, 0);
  ASSERT_TRUE(p.gpu);
  p.cpu.set_int8_activations(false);
  p.plan(8, 2, 16, 5120);
  core::Xoshiro256 rng(29);
  HostData hd;
  for (auto [bits, group] : {std::pair{4, 32}, std::pair{4, 64}, std::pair{4, 128},
                             std::pair{8, 32}, std::pair{8, 64}, std::pair{8, 128}}) {
    for (std::int64_t K : {512, 1536, 5120}) {
      std::vector<PackedWeight> hs;
      for (std::int64_t N : {40, 17, 33}) {
        hs.push_back(make_packed(N, K, bits, group, DType::kBF16, rng));
      }
      std::vector<tensor::Weight> wc, wg;
      for (const PackedWeight& h : hs) {
        wc.push_back(*p.cpu.import_quantized(h.weight));
        wg.push_back(*p.gpu->import_quantized(h.weight));
      }
      for (std::int64_t M = 1; M <= 4; ++M) {
        for (float x_scale : {1.0f, 3000.0f}) {
          auto x = both(p, hd.random(DType::kF32, {M, K}, rng, x_scale), true);
          const LinearOuts outs(p, wc, wg, M);
          outs.run(p, x);
          for (std::size_t i = 0; i < outs.c.size(); ++i) {
            SCOPED_TRACE(fmt::format("bits={} group={} K={} M={} x_scale={} weight {}", bits, group,
                                     K, M, x_scale, i));
            const bool tensor_cores = group >= 64;  // K is a multiple of 512 here
            EXPECT_LT(outs.error(p, i), tensor_cores ? 1e-3 : 2e-3);
          }
        }
      }
    }
  }
}

// An FP8 weight as checkpoints store it: e4m3 codes (no NaN) and f32 scales
// per block of block_rows x group columns.
struct Fp8Host {
  std::vector<std::uint8_t> codes;
  std::vector<float> scales;
  tensor::Weight weight;
};
Fp8Host make_fp8(std::int64_t N, std::int64_t K, std::int64_t block_rows, std::int64_t group,
                 core::Xoshiro256& rng) {
  Fp8Host h;
  h.codes.resize(static_cast<std::size_t>(N * K));
  for (auto& c : h.codes) {
    c = static_cast<std::uint8_t>(rng.next() & 0xFF);
    if ((c & 0x7F) == 0x7F) c = 0x3F;  // NaN codes become 1.875
  }
  const std::int64_t rb = (N + block_rows - 1) / block_rows, gb = (K + group - 1) / group;
  h.scales.resize(static_cast<std::size_t>(rb * gb));
  for (auto& v : h.scales) v = (0.5f + rng.uniform()) / 256.0f;
  h.weight.w = Tensor(h.codes.data(), DType::kF8E4M3, {N, K});
  h.weight.quant.format = tensor::QuantFormat::kFp8;
  h.weight.quant.bits = 8;
  h.weight.quant.group_size = group;
  h.weight.quant.block_rows = block_rows;
  h.weight.quant.in_features = K;
  h.weight.quant.scales = Tensor(h.scales.data(), DType::kF32, {rb, gb});
  return h;
}

// FP8 weights kept as e4m3 on the device, three sharing x in one call (the
// q/k/v pattern, one with a bias), every route: exact f32 products
// (exact_f32), the tensor-core FP8 GEMV (1-16 rows, x rounded to f16), the
// cuBLASLt FP8 GEMM (more rows, per-channel scales), bf16 tiles + GEMM (more
// rows, block scales), and 32-column blocks, which the GEMV does not take.
// The CPU's exact dequantization is the reference.
TEST(CudaOps, Fp8WeightsEveryRoute) {
  for (bool exact : {true, false}) {
    Pair p(exact);
    ASSERT_TRUE(p.gpu);
    p.cpu.set_int8_activations(false);
    p.plan(40, 4, 64, 1024);
    core::Xoshiro256 rng(exact ? 3 : 4);
    HostData hd;
    for (auto [br, group] :
         {std::pair<std::int64_t, std::int64_t>{1, 1024}, {128, 128}, {32, 32}}) {
      const std::int64_t K = 1024;
      std::vector<Fp8Host> hosts;
      hosts.push_back(make_fp8(200, K, br, group, rng));
      hosts.push_back(make_fp8(70, K, br, group, rng));  // not a multiple of 16 rows
      hosts.push_back(make_fp8(33, K, br, group, rng));
      std::vector<tensor::Weight> wc, wg;
      for (const auto& h : hosts) {
        wc.push_back(*p.cpu.import_quantized(h.weight));
        auto g = p.gpu->import_quantized(h.weight);
        ASSERT_TRUE(g.is_ok()) << g.status().to_string();
        wg.push_back(*g);
        ASSERT_EQ(wg.back().quant.format, tensor::QuantFormat::kFp8) << "kept as e4m3";
      }
      const Tensor bh = hd.random(DType::kF32, {70}, rng);
      wc[1].bias = *p.cpu.import_tensor(bh, true);
      wg[1].bias = *p.gpu->import_tensor(bh, true);
      for (std::int64_t M : {1, 2, 5, 8, 9, 16, 17, 40}) {
        SCOPED_TRACE(fmt::format("exact={} block_rows={} group={} M={}", exact, br, group, M));
        // Large activations on some rows: the f16 x must not overflow.
        auto x = both(p, hd.random(DType::kF32, {M, K}, rng, M == 5 ? 3000.0f : 1.0f), true);
        const LinearOuts outs(p, wc, wg, M);
        outs.run(p, x);
        ASSERT_TRUE(p.gpu->synchronize().is_ok());
        // Fast path: 1-16 rows x rounded to f16 (the FP8 GEMV, or the exact
        // kernel for 32-column blocks); more rows per-channel weights on the
        // FP8 GEMM (x as per-token e4m3: 2^-4 relative rounding per
        // element), blocks on bf16 tiles.
        const double bound = exact ? 1e-5 : M <= 16 ? 2e-3 : group == K ? 6e-2 : 1e-2;
        for (std::size_t i = 0; i < outs.c.size(); ++i) {
          SCOPED_TRACE(fmt::format("weight {}", i));
          EXPECT_LT(outs.error(p, i), bound);
        }
      }
      // The first weight as an embedding table.
      const std::vector<std::int32_t> tokens = {5, 0, 199, 5};
      const std::vector<std::int32_t> positions = {0, 1, 2, 3};
      const std::vector<std::int32_t> blocks = {0};
      const std::vector<tensor::SeqSlice> seqs = {{0, 4, 4, blocks.data(), 1}};
      const std::vector<std::int32_t> logit_rows = {3};
      const tensor::StepBatch batch{tokens, positions, seqs, logit_rows};
      p.cpu.begin_step(batch);
      p.gpu->begin_step(batch);
      auto e = both(p, hd.random(DType::kF32, {4, K}, rng), true);
      p.cpu.embed(wc[0], 0.5f, e.c, 0);
      p.gpu->embed(wg[0], 0.5f, e.g, 0);
      p.cpu.end_step();
      p.gpu->end_step();
      EXPECT_LT(rel_error(fetch(*p.gpu, e.g), fetch(p.cpu, e.c)), 1e-6);
    }
  }
}

// A gated MLP's down projection with FP8 per-channel weights past the GEMV's
// rows: the activation writes the FP8 GEMM's per-token e4m3 input itself
// (default) or as an f32 product that a quantize pass reads
// (MLXS_CUDA_ACT_QUANT=0). Both match the CPU's exact product within the FP8
// GEMM's bound, and each other to rounding: the same codes and scales.
TEST(CudaOps, Fp8DownProjectionQuantizesTheActivation) {
  const std::int64_t K = 1024, N = 96;
  std::vector<std::vector<float>> got;
  for (const char* fused : {"1", "0"}) {
    Pair p("MLXS_CUDA_ACT_QUANT", fused);
    ASSERT_TRUE(p.gpu);
    p.plan(40, 4, 64, K);
    core::Xoshiro256 rng(21);
    HostData hd;
    const Fp8Host h = make_fp8(N, K, 1, K, rng);
    const tensor::Weight wc = *p.cpu.import_quantized(h.weight);
    const tensor::Weight wg = *p.gpu->import_quantized(h.weight);
    for (std::int64_t M : {17, 40}) {
      SCOPED_TRACE(fmt::format("fused={} M={}", fused, M));
      auto gate = both(p, hd.random(DType::kF32, {M, K}, rng, 4.0f), true);
      auto up = both(p, hd.random(DType::kF32, {M, K}, rng), true);
      auto yc_buf = p.cpu.allocate(static_cast<std::size_t>(M * N) * 4).value();
      auto yg_buf = p.gpu->allocate(static_cast<std::size_t>(M * N) * 4).value();
      const tensor::LinearOut oc{&wc, Tensor(yc_buf->data(), DType::kF32, {M, N})};
      const tensor::LinearOut og{
          &wg, Tensor(yg_buf->data(), DType::kF32, {M, N}, tensor::Device::kCuda)};
      p.cpu.gated_linear(gate.c, up.c, tensor::Activation::kSilu, oc);
      p.gpu->gated_linear(gate.g, up.g, tensor::Activation::kSilu, og);
      got.push_back(fetch(*p.gpu, og.out));
      EXPECT_LT(rel_error(got.back(), fetch(p.cpu, oc.out)), 6e-2);
    }
  }
  ASSERT_EQ(got.size(), 4u);
  EXPECT_LT(rel_error(got[0], got[2]), 1e-5);
  EXPECT_LT(rel_error(got[1], got[3]), 1e-5);
}

// q/k/v bound as one weight (Binder::stacked) past the GEMV's rows run as
// one GEMM into the stack scratch, split into the parts' outputs: the same
// as one GEMM a part (MLXS_CUDA_STACKED=0) and the CPU's within the GEMMs'
// usual bounds, FP8 (x quantized per token) and bf16, at a tuned row count
// (256) and an untuned one.
TEST(CudaOps, StackedLinearsMatchOneGemmEach) {
  const std::int64_t K = 512;
  const std::int64_t parts[3] = {128, 32, 32};  // a GQA group of 4 at 32-wide heads
  const std::int64_t N = 192;
  std::vector<std::vector<float>> got[2];  // [stacked: 1, 0]
  for (int si = 0; si < 2; ++si) {
    Pair p("MLXS_CUDA_STACKED", si == 0 ? "1" : "0");
    ASSERT_TRUE(p.gpu);
    p.plan(256, 4, 64, K);
    core::Xoshiro256 rng(23);
    HostData hd;
    for (const bool fp8 : {true, false}) {
      const Fp8Host h = make_fp8(N, K, 1, K, rng);
      tensor::Weight whole_c, whole_g;
      if (fp8) {
        whole_c = *p.cpu.import_quantized(h.weight);
        whole_g = *p.gpu->import_quantized(h.weight);
      } else {
        const Tensor w = hd.random(DType::kBF16, {N, K}, rng, 0.05f);
        whole_c.w = *p.cpu.import_tensor(w, false);
        whole_g.w = *p.gpu->import_tensor(w, false);
      }
      std::vector<tensor::Weight> vc, vg;
      std::int64_t row = 0;
      for (const std::int64_t n : parts) {
        vc.push_back(*model::weight_rows(whole_c, row, row + n));
        vg.push_back(*model::weight_rows(whole_g, row, row + n));
        row += n;
      }
      for (const std::int64_t M : {40, 256}) {
        SCOPED_TRACE(fmt::format("stacked={} fp8={} M={}", si == 0, fp8, M));
        auto x = both(p, hd.random(DType::kF32, {M, K}, rng), true);
        std::vector<std::unique_ptr<tensor::DeviceBuffer>> bufs;
        std::vector<tensor::LinearOut> oc, og;
        for (std::size_t j = 0; j < vc.size(); ++j) {
          const std::int64_t n = parts[j];
          bufs.push_back(p.cpu.allocate(static_cast<std::size_t>(M * n) * 4).value());
          oc.push_back({&vc[j], Tensor(bufs.back()->data(), DType::kF32, {M, n})});
          bufs.push_back(p.gpu->allocate(static_cast<std::size_t>(M * n) * 4).value());
          og.push_back(
              {&vg[j], Tensor(bufs.back()->data(), DType::kF32, {M, n}, tensor::Device::kCuda)});
        }
        const std::uint64_t before = p.gpu->stacked_gemms();
        p.cpu.linear(x.c, oc);
        p.gpu->linear(x.g, og);
        EXPECT_EQ(p.gpu->stacked_gemms() - before, si == 0 ? 1u : 0u);
        for (std::size_t j = 0; j < og.size(); ++j) {
          got[si].push_back(fetch(*p.gpu, og[j].out));
          EXPECT_LT(rel_error(got[si].back(), fetch(p.cpu, oc[j].out)), fp8 ? 6e-2 : 2e-2);
        }
      }
    }
  }
  ASSERT_EQ(got[0].size(), got[1].size());
  for (std::size_t i = 0; i < got[0].size(); ++i) EXPECT_LT(rel_error(got[0][i], got[1][i]), 1e-4);
}

// FP8 GEMMs of few output tiles at mid-sized row counts run as K slices and
// a reduce (the scales and the bias applied there): one weight, its rows as
// three stacked views, and a gated down projection, at 24, 64 and 256 rows,
// give what one GEMM gives (MLXS_CUDA_SPLITK=0; the slices' sums round
// apart) and the CPU's within the FP8 GEMM's bound.
TEST(CudaOps, Fp8SplitKMatchesOneGemm) {
  const std::int64_t K = 4096, N = 256;
  const std::int64_t parts[3] = {128, 64, 64};
  std::vector<std::vector<float>> got[2];  // [split: 1, 0]
  for (int si = 0; si < 2; ++si) {
    Pair p("MLXS_CUDA_SPLITK", si == 0 ? "1" : "0");
    ASSERT_TRUE(p.gpu);
    p.plan(256, 4, 64, K);
    core::Xoshiro256 rng(41);
    HostData hd;
    const Fp8Host h = make_fp8(N, K, 1, K, rng);
    tensor::Weight wc = *p.cpu.import_quantized(h.weight);
    tensor::Weight wg = *p.gpu->import_quantized(h.weight);
    const Tensor bh = hd.random(DType::kF32, {N}, rng);
    wc.bias = *p.cpu.import_tensor(bh, true);
    wg.bias = *p.gpu->import_tensor(bh, true);
    std::vector<tensor::Weight> vc, vg;
    std::int64_t row = 0;
    for (const std::int64_t n : parts) {
      vc.push_back(*model::weight_rows(wc, row, row + n));
      vg.push_back(*model::weight_rows(wg, row, row + n));
      row += n;
    }
    for (const std::int64_t M : {24, 64, 256}) {
      SCOPED_TRACE(fmt::format("split={} M={}", si == 0, M));
      auto x = both(p, hd.random(DType::kF32, {M, K}, rng), true);
      auto up = both(p, hd.random(DType::kF32, {M, K}, rng), true);
      std::vector<std::unique_ptr<tensor::DeviceBuffer>> bufs;
      // The whole weight, then its three views, then the gated product.
      std::vector<std::vector<tensor::LinearOut>> oc(3), og(3);
      const auto add = [&](int call, const tensor::Weight* c, const tensor::Weight* g) {
        const std::int64_t n = c->out_features();
        bufs.push_back(p.cpu.allocate(static_cast<std::size_t>(M * n) * 4).value());
        oc[call].push_back({c, Tensor(bufs.back()->data(), DType::kF32, {M, n})});
        bufs.push_back(p.gpu->allocate(static_cast<std::size_t>(M * n) * 4).value());
        og[call].push_back(
            {g, Tensor(bufs.back()->data(), DType::kF32, {M, n}, tensor::Device::kCuda)});
      };
      add(0, &wc, &wg);
      for (std::size_t j = 0; j < vc.size(); ++j) add(1, &vc[j], &vg[j]);
      add(2, &wc, &wg);
      const std::uint64_t before = p.gpu->split_gemms();
      for (int call = 0; call < 2; ++call) {
        p.cpu.linear(x.c, oc[call]);
        p.gpu->linear(x.g, og[call]);
      }
      p.cpu.gated_linear(x.c, up.c, tensor::Activation::kSilu, oc[2][0]);
      p.gpu->gated_linear(x.g, up.g, tensor::Activation::kSilu, og[2][0]);
      EXPECT_EQ(p.gpu->split_gemms() - before, si == 0 ? 3u : 0u);
      for (int call = 0; call < 3; ++call) {
        for (std::size_t j = 0; j < og[call].size(); ++j) {
          got[si].push_back(fetch(*p.gpu, og[call][j].out));
          EXPECT_LT(rel_error(got[si].back(), fetch(p.cpu, oc[call][j].out)), 6e-2);
        }
      }
    }
  }
  // Fast accumulation keeps the tensor cores' narrower sum across each
  // K range, so 1,024-deep slices and one 4,096-deep pass round apart by
  // about 1.2e-3 (measured on an H200); a wrong slice or scale is O(1).
  ASSERT_EQ(got[0].size(), got[1].size());
  for (std::size_t i = 0; i < got[0].size(); ++i) EXPECT_LT(rel_error(got[0][i], got[1][i]), 5e-3);
}

// The activation quantize with a row's values held in registers (rows of
// up to 16,384 values) gives the two-pass kernel's bits
// (MLXS_FP8_HELD_QUANTIZE=0), before the plain FP8 GEMM (x's rows) and the
// gated down projection, and past the held rows' width (both two-pass).
TEST(CudaOps, HeldActivationQuantizeGivesTheTwoPassBits) {
  const std::int64_t M = 40, N = 64;
  std::vector<std::vector<float>> got[2];
  for (int held = 0; held < 2; ++held) {
    Pair p("MLXS_FP8_HELD_QUANTIZE", held == 1 ? "1" : "0");
    ASSERT_TRUE(p.gpu);
    p.plan(64, 4, 64, 16896);
    core::Xoshiro256 rng(31);
    HostData hd;
    for (const std::int64_t K : {1024, 14336, 16896}) {
      SCOPED_TRACE(fmt::format("held={} K={}", held, K));
      const Fp8Host h = make_fp8(N, K, 1, K, rng);
      const tensor::Weight wg = *p.gpu->import_quantized(h.weight);
      auto x = both(p, hd.random(DType::kF32, {M, K}, rng, 3.0f), true);
      auto up = both(p, hd.random(DType::kF32, {M, K}, rng), true);
      auto y_buf = p.gpu->allocate(static_cast<std::size_t>(M * N) * 4).value();
      const tensor::LinearOut o{&wg,
                                Tensor(y_buf->data(), DType::kF32, {M, N}, tensor::Device::kCuda)};
      p.gpu->linear(x.g, std::span<const tensor::LinearOut>(&o, 1));
      got[held].push_back(fetch(*p.gpu, o.out));
      p.gpu->gated_linear(x.g, up.g, tensor::Activation::kSilu, o);
      got[held].push_back(fetch(*p.gpu, o.out));
    }
  }
  ASSERT_EQ(got[0].size(), 6u);
  for (std::size_t i = 0; i < got[0].size(); ++i) EXPECT_EQ(got[0][i], got[1][i]) << i;
}

// A gated MLP's FP8 weights with per-channel scales: gate and up F x K,
// down N x F (drawn in that order), and their import on a backend.
struct Fp8MlpHost {
  Fp8Host gate, up, down;
};
Fp8MlpHost make_fp8_mlp(std::int64_t K, std::int64_t F, std::int64_t N, core::Xoshiro256& rng) {
  Fp8MlpHost h;
  h.gate = make_fp8(F, K, 1, K, rng);
  h.up = make_fp8(F, K, 1, K, rng);
  h.down = make_fp8(N, F, 1, F, rng);
  return h;
}
struct MlpWeights {
  tensor::Weight gate, up, down;
};
MlpWeights import_mlp(tensor::Backend& be, const Fp8MlpHost& h) {
  return {*be.import_quantized(h.gate.weight), *be.import_quantized(h.up.weight),
          *be.import_quantized(h.down.weight)};
}

// A gated MLP of FP8 weights past the GEMV's rows writes gate and up as
// bf16 (MLXS_CUDA_FP8_HALF_MLP, on by default): the down projection's output
// stays within bf16 rounding of the f32 products' (=0), both within the FP8
// GEMM's bound of the CPU's, at 24 rows (the down GEMM split over K) and 300.
TEST(CudaOps, Fp8GatedMlpHalfProductsMatchF32) {
  const std::int64_t K = 1024, F = 2048, N = 512;
  std::vector<std::vector<float>> got[2];  // [half: 1, 0]
  for (int hi = 0; hi < 2; ++hi) {
    Pair p("MLXS_CUDA_FP8_HALF_MLP", hi == 0 ? "1" : "0");
    ASSERT_TRUE(p.gpu);
    p.plan(300, 4, 64, F);
    core::Xoshiro256 rng(43);
    HostData hd;
    const Fp8MlpHost h = make_fp8_mlp(K, F, N, rng);
    const MlpWeights wc = import_mlp(p.cpu, h), wg = import_mlp(*p.gpu, h);
    for (const std::int64_t M : {24, 300}) {
      SCOPED_TRACE(fmt::format("half={} M={}", hi == 0, M));
      auto x = both(p, hd.random(DType::kF32, {M, K}, rng, 2.0f), true);
      auto sg = both(p, hd.random(DType::kF32, {M, F}, rng), true);
      auto su = both(p, hd.random(DType::kF32, {M, F}, rng), true);
      auto y = both(p, hd.random(DType::kF32, {M, N}, rng), true);
      p.cpu.gated_mlp(x.c, wc.gate, wc.up, tensor::Activation::kSilu, sg.c, su.c, {&wc.down, y.c});
      const std::uint64_t before = p.gpu->half_mlps();
      p.gpu->gated_mlp(x.g, wg.gate, wg.up, tensor::Activation::kSilu, sg.g, su.g, {&wg.down, y.g});
      EXPECT_EQ(p.gpu->half_mlps() - before, hi == 0 ? 1u : 0u);
      got[hi].push_back(fetch(*p.gpu, y.g));
      EXPECT_LT(rel_error(got[hi].back(), fetch(p.cpu, y.c)), 8e-2);
    }
  }
  // bf16 products (8 significant bits) before a per-token e4m3 quantize (4).
  for (std::size_t i = 0; i < got[0].size(); ++i) EXPECT_LT(rel_error(got[0][i], got[1][i]), 2e-2);
}

// An add + RMSNorm past the FP8 GEMV's rows leaves its output's e4m3 codes
// for the FP8 GEMM in the very next op (MLXS_CUDA_NORM_QUANT, on by
// default): a linear and a gated MLP over the norm's output give the bits of
// quantizing it again (=0), and an op between the norm and the linear (here
// one that changes the output) makes the linear quantize afresh.
TEST(CudaOps, NormQuantizedInputsGiveTheQuantizePassBits) {
  const std::int64_t K = 1024, F = 2048, N = 384;
  std::vector<std::vector<float>> got[2];  // [fused: 1, 0]
  for (int fi = 0; fi < 2; ++fi) {
    Pair p("MLXS_CUDA_NORM_QUANT", fi == 0 ? "1" : "0");
    ASSERT_TRUE(p.gpu);
    p.plan(300, 4, 64, F);
    core::Xoshiro256 rng(53);
    HostData hd;
    const Fp8Host hq = make_fp8(N, K, 1, K, rng);
    const tensor::Weight wq = *p.gpu->import_quantized(hq.weight);
    const MlpWeights mlp = import_mlp(*p.gpu, make_fp8_mlp(K, F, N, rng));
    const auto w = both(p, hd.random(DType::kF32, {K}, rng), true);
    for (const std::int64_t M : {24, 300}) {
      SCOPED_TRACE(fmt::format("fused={} M={}", fi == 0, M));
      auto x = both(p, hd.random(DType::kF32, {M, K}, rng, 2.0f), true);
      auto d = both(p, hd.random(DType::kF32, {M, K}, rng), true);
      auto h = both(p, hd.random(DType::kF32, {M, K}, rng), true);
      auto y = both(p, hd.random(DType::kF32, {M, N}, rng), true);
      auto sg = both(p, hd.random(DType::kF32, {M, F}, rng), true);
      auto su = both(p, hd.random(DType::kF32, {M, F}, rng), true);
      const std::uint64_t before = p.gpu->norm_quantized_inputs();
      const tensor::LinearOut o{&wq, y.g};
      p.gpu->add_rms_norm(x.g, d.g, w.g, 1e-5f, 0.0f, h.g);
      p.gpu->linear(h.g, std::span<const tensor::LinearOut>(&o, 1));
      got[fi].push_back(fetch(*p.gpu, y.g));
      p.gpu->add_rms_norm(x.g, d.g, w.g, 1e-5f, 0.0f, h.g);
      p.gpu->gated_mlp(h.g, mlp.gate, mlp.up, tensor::Activation::kSilu, sg.g, su.g,
                       {&mlp.down, y.g});
      got[fi].push_back(fetch(*p.gpu, y.g));
      p.gpu->add_rms_norm(x.g, d.g, w.g, 1e-5f, 0.0f, h.g);
      p.gpu->add(h.g, d.g);  // h changes after the norm left its codes
      p.gpu->linear(h.g, std::span<const tensor::LinearOut>(&o, 1));
      got[fi].push_back(fetch(*p.gpu, y.g));
      got[fi].push_back(fetch(*p.gpu, h.g));
      EXPECT_EQ(p.gpu->norm_quantized_inputs() - before, fi == 0 ? 2u : 0u);
    }
  }
  ASSERT_EQ(got[0].size(), 8u);
  for (std::size_t i = 0; i < got[0].size(); ++i) EXPECT_EQ(got[0][i], got[1][i]) << i;
}

TEST(CudaOps, Fp8GemvChunkLayouts) {
  // The FP8 GEMV gives each warp pairs of 64-column chunks (a lane reads 32
  // contiguous bytes of a row) where K is a multiple of 128 and one scale
  // covers 128 columns: per-row and 128 x 128 block scales. 64-column
  // blocks, and K = 2112 (33 chunks), keep single chunks.
  Pair p(false);
  ASSERT_TRUE(p.gpu);
  p.cpu.set_int8_activations(false);
  p.plan(8, 2, 64, 2112);
  core::Xoshiro256 rng(9);
  HostData hd;
  using Case = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
  for (auto [N, K, br, group] : {Case{300, 2048, 1, 2048}, Case{37, 2048, 128, 128},
                                 Case{45, 2048, 64, 64}, Case{300, 2112, 1, 2112}}) {
    const Fp8Host h = make_fp8(N, K, br, group, rng);
    const tensor::Weight wc = *p.cpu.import_quantized(h.weight);
    auto g = p.gpu->import_quantized(h.weight);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    const tensor::Weight wg = *g;
    for (std::int64_t M : {1, 3, 8}) {
      SCOPED_TRACE(fmt::format("N={} K={} block_rows={} group={} M={}", N, K, br, group, M));
      // x rounded to f16 on the GPU (as in Fp8WeightsEveryRoute).
      EXPECT_LT(linear_error(p, hd, rng, wc, wg, M), 2e-3);
    }
  }
}

TEST(CudaOps, NormsActivationsAndElementwise) {
  Pair p;
  ASSERT_TRUE(p.gpu);
  p.plan(16, 2, 16, 256);
  core::Xoshiro256 rng(5);
  HostData hd;
  const std::int64_t R = 7, H = 200;
  auto x = both(p, hd.random(DType::kF32, {R, H}, rng, 3.0f), true);
  auto d = both(p, hd.random(DType::kF32, {R, H}, rng), true);
  auto w = both(p, hd.random(DType::kF32, {H}, rng), true);
  auto oc = both(p, hd.random(DType::kF32, {R, H}, rng), true);
  p.cpu.rms_norm(x.c, w.c, 1e-6f, 1.0f, oc.c);
  p.gpu->rms_norm(x.g, w.g, 1e-6f, 1.0f, oc.g);
  EXPECT_LT(rel_error(fetch(*p.gpu, oc.g), fetch(p.cpu, oc.c)), 1e-5);
  p.cpu.add_rms_norm(x.c, d.c, w.c, 1e-5f, 0.0f, oc.c);
  p.gpu->add_rms_norm(x.g, d.g, w.g, 1e-5f, 0.0f, oc.g);
  EXPECT_LT(rel_error(fetch(*p.gpu, oc.g), fetch(p.cpu, oc.c)), 1e-5);
  EXPECT_LT(rel_error(fetch(*p.gpu, x.g), fetch(p.cpu, x.c)), 1e-6) << "the residual sum";
  // Row widths for the one-float4-per-thread kernel (<= 4096, multiple of
  // 4) and for the looping one.
  for (std::int64_t width : {4096, 202, 4100}) {
    SCOPED_TRACE(fmt::format("add_rms_norm width {}", width));
    auto x2 = both(p, hd.random(DType::kF32, {3, width}, rng, 3.0f), true);
    auto d2 = both(p, hd.random(DType::kF32, {3, width}, rng), true);
    auto w2 = both(p, hd.random(DType::kF32, {width}, rng), true);
    auto o2 = both(p, hd.random(DType::kF32, {3, width}, rng), true);
    p.cpu.add_rms_norm(x2.c, d2.c, w2.c, 1e-5f, 1.0f, o2.c);
    p.gpu->add_rms_norm(x2.g, d2.g, w2.g, 1e-5f, 1.0f, o2.g);
    EXPECT_LT(rel_error(fetch(*p.gpu, o2.g), fetch(p.cpu, o2.c)), 1e-5);
    EXPECT_LT(rel_error(fetch(*p.gpu, x2.g), fetch(p.cpu, x2.c)), 1e-6);
  }
  auto hw = both(p, hd.random(DType::kF32, {40}, rng), true);
  p.cpu.head_rms_norm(oc.c, 40, hw.c, 1e-6f, 0.0f);
  p.gpu->head_rms_norm(oc.g, 40, hw.g, 1e-6f, 0.0f);
  EXPECT_LT(rel_error(fetch(*p.gpu, oc.g), fetch(p.cpu, oc.c)), 1e-5);
  for (auto act :
       {tensor::Activation::kSilu, tensor::Activation::kGeluTanh, tensor::Activation::kGelu}) {
    p.cpu.gated_activation(x.c, d.c, act, oc.c);
    p.gpu->gated_activation(x.g, d.g, act, oc.g);
    EXPECT_LT(rel_error(fetch(*p.gpu, oc.g), fetch(p.cpu, oc.c)), 1e-5);
  }
  p.cpu.softcap(x.c, 2.0f);
  p.gpu->softcap(x.g, 2.0f);
  EXPECT_LT(rel_error(fetch(*p.gpu, x.g), fetch(p.cpu, x.c)), 1e-5);
  p.cpu.add(x.c, d.c);
  p.gpu->add(x.g, d.g);
  EXPECT_LT(rel_error(fetch(*p.gpu, x.g), fetch(p.cpu, x.c)), 1e-6);
}

// Masks and greedy ids on the device agree with the host's rules exactly:
// ties go to the first index, NaN never wins, a row of -inf gives token 0.
TEST(CudaOps, FinishLogitsMasksAndArgmaxLikeTheHost) {
  // A vocabulary not a multiple of 32, nor of 4 (the argmax's scalar loop),
  // and one of 4 (its float4 loop).
  for (const std::int64_t V : {50001, 50000}) {
    SCOPED_TRACE(fmt::format("V={}", V));
    Pair p;
    ASSERT_TRUE(p.gpu);
    const std::int64_t R = 6;
    p.plan(8, 8, 16, V);
    core::Xoshiro256 rng(11);
    HostData hd;
    Tensor host = hd.random(DType::kF32, {R, V}, rng, 4.0f);
    auto* v = static_cast<float*>(host.data);
    v[2 * V + 100] = 9.0f;  // a tie: the first index wins
    v[2 * V + 40000] = 9.0f;
    for (std::int64_t i = 0; i < V; ++i) v[3 * V + i] = -INFINITY;
    v[4 * V + 5] = NAN;
    v[5 * V + 0] = NAN;
    auto logits = both(p, host, true);
    const std::size_t words = (static_cast<std::size_t>(V) + 31) / 32;
    std::vector<std::uint32_t> masks(2 * words);
    for (auto& w : masks)
      w = static_cast<std::uint32_t>(rng.next()) & static_cast<std::uint32_t>(rng.next());
    const std::vector<std::int32_t> masked_rows = {1, 4};
    const std::vector<std::uint8_t> full_rows = {0, 1, 0, 0, 0, 1};
    tensor::Backend::LogitsRequest req;
    req.masked_rows = masked_rows;
    req.masks = masks;
    req.mask_words = words;
    req.full_rows = full_rows;
    auto c = p.cpu.finish_logits(logits.c, req);
    auto g = p.gpu->finish_logits(logits.g, req);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    EXPECT_EQ(c->tokens[2], 100);
    EXPECT_EQ(c->tokens[3], 0);
    for (std::int64_t r = 0; r < R; ++r) {
      const auto row = static_cast<std::size_t>(r);
      if (full_rows[row] == 0) {
        EXPECT_EQ(g->tokens[row], c->tokens[row]) << "row " << r;
        continue;
      }
      for (std::int64_t i = 0; i < V; ++i) {
        const float a = g->rows[r * V + i], b = c->rows[r * V + i];
        ASSERT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << "row " << r << " token " << i;
      }
    }
    // Masked greedy row 4 through the device alone: its id is an allowed one.
    const std::vector<std::uint8_t> all_ids(static_cast<std::size_t>(R), 0);
    req.full_rows = all_ids;
    auto g2 = p.gpu->finish_logits(logits.g, req);
    ASSERT_TRUE(g2.is_ok());
    const auto t = static_cast<std::size_t>(g2->tokens[4]);
    EXPECT_NE((masks[words + t / 32] >> (t % 32)) & 1u, 0u);
    // A request that does not match the logits is refused, not run.
    const std::vector<std::uint8_t> short_rows(2, 0);
    req.full_rows = short_rows;
    EXPECT_FALSE(p.gpu->finish_logits(logits.g, req).is_ok());
  }
}

// Two steps: sequence 0 caches 9 tokens; then sequence 0 decodes one token
// while sequence 1 prefills 5, all through block tables.
TEST(CudaOps, EmbedRopeKvAndPagedAttention) {
  for (int window : {0, 4}) {
    for (float cap : {0.0f, 5.0f}) {
      Pair p;
      ASSERT_TRUE(p.gpu);
      const int heads = 4, kv_heads = 2, hd_dim = 32, block = 4;
      p.plan(16, 2, 32, 128);
      tensor::RopeSpec rope;
      rope.rot_dim = 16;  // partial rotary
      for (int i = 0; i < 8; ++i) rope.inv_freq.push_back(std::pow(10000.0, -2.0 * i / 16.0));
      const int rc = p.cpu.register_rope(rope), rg = p.gpu->register_rope(rope);
      tensor::KvCacheShape shape{1, 8, block, kv_heads, hd_dim, DType::kF32, {}};
      auto kvc = p.cpu.create_kv_storage(shape).value();
      auto kvg = p.gpu->create_kv_storage(shape).value();
      core::Xoshiro256 rng(9);
      HostData hd;
      const auto table = both(p, hd.random(DType::kBF16, {50, 8}, rng), false);
      std::vector<std::int32_t> blocks0 = {3, 1, 6}, blocks1 = {0, 5};
      tensor::AttentionSpec spec{heads, kv_heads, hd_dim, 0.2f, cap, window};
      auto run_step = [&](std::vector<std::int32_t> tokens, std::vector<std::int32_t> positions,
                          std::vector<tensor::SeqSlice> seqs) {
        const auto T = static_cast<std::int64_t>(tokens.size());
        std::vector<std::int32_t> rows;
        for (std::int32_t i = 0; i < T; ++i) rows.push_back(i);
        tensor::StepBatch batch{tokens, positions, seqs, rows};
        p.cpu.begin_step(batch);
        p.gpu->begin_step(batch);
        auto e = both(p, hd.random(DType::kF32, {T, 8}, rng), true);
        // A rank's slice of the vocabulary (tokens 20..69): zeros for the others.
        p.cpu.embed(tensor::Weight{table.c, {}, {}}, 1.5f, e.c, 20);
        p.gpu->embed(tensor::Weight{table.g, {}, {}}, 1.5f, e.g, 20);
        EXPECT_LT(rel_error(fetch(*p.gpu, e.g), fetch(p.cpu, e.c)), 1e-6);
        p.cpu.embed(tensor::Weight{table.c, {}, {}}, 1.5f, e.c, 0);
        p.gpu->embed(tensor::Weight{table.g, {}, {}}, 1.5f, e.g, 0);
        EXPECT_LT(rel_error(fetch(*p.gpu, e.g), fetch(p.cpu, e.c)), 1e-6);
        auto q = both(p, hd.random(DType::kF32, {T, heads * hd_dim}, rng), true);
        auto k = both(p, hd.random(DType::kF32, {T, kv_heads * hd_dim}, rng), true);
        auto v = both(p, hd.random(DType::kF32, {T, kv_heads * hd_dim}, rng), true);
        p.cpu.rope(q.c, hd_dim, rc);
        p.cpu.rope(k.c, hd_dim, rc);
        p.cpu.kv_write(*kvc, 0, k.c, v.c);
        if (window == 0) {  // the fused op, checked against the CPU's three
          p.gpu->rope_and_cache(q.g, k.g, v.g, hd_dim, rg, *kvg, 0);
        } else {
          p.gpu->rope(q.g, hd_dim, rg);
          p.gpu->rope(k.g, hd_dim, rg);
          p.gpu->kv_write(*kvg, 0, k.g, v.g);
        }
        EXPECT_LT(rel_error(fetch(*p.gpu, q.g), fetch(p.cpu, q.c)), 1e-5);
        EXPECT_LT(rel_error(fetch(*p.gpu, k.g), fetch(p.cpu, k.c)), 1e-5);
        auto o = both(p, hd.random(DType::kF32, {T, heads * hd_dim}, rng), true);
        p.cpu.attention(*kvc, 0, q.c, spec, o.c);
        p.gpu->attention(*kvg, 0, q.g, spec, o.g);
        EXPECT_LT(rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c)), 1e-4)
            << "window " << window << " softcap " << cap;
        auto g = both(p, hd.random(DType::kF32, {T, 8}, rng), true);
        p.cpu.gather_logit_rows(e.c, g.c);
        p.gpu->gather_logit_rows(e.g, g.g);
        EXPECT_LT(rel_error(fetch(*p.gpu, g.g), fetch(p.cpu, g.c)), 1e-6);
      };
      run_step({1, 2, 3, 4, 5, 6, 7, 8, 9}, {0, 1, 2, 3, 4, 5, 6, 7, 8},
               {{0, 9, 9, blocks0.data(), 3}});
      run_step({10, 11, 12, 13, 14, 15}, {9, 0, 1, 2, 3, 4},
               {{0, 1, 10, blocks0.data(), 3}, {1, 5, 5, blocks1.data(), 2}});
    }
  }
}

// A decode step over 600 cached keys runs in several splits that are merged;
// a sliding window crosses split boundaries.
TEST(CudaOps, LongContextAttentionSplits) {
  // The 600-row step: 64 and 128 take the warp-per-key kernel, 48 the tiled
  // one. The one-row step: 64 and 128 the decode kernel (four splits of 256
  // keys, those past the window or the row empty, merged by the last block),
  // 48 the tiled one.
  for (auto [window, hd_dim] : {std::pair{0, 64}, {300, 64}, {0, 128}, {300, 48}}) {
    SCOPED_TRACE(fmt::format("window {} head_dim {}", window, hd_dim));
    Pair p;
    ASSERT_TRUE(p.gpu);
    const int heads = 8, kv_heads = 2, block = 16, n = 600;
    p.plan(n, 1, 700, 512);
    tensor::KvCacheShape shape{1, 40, block, kv_heads, hd_dim, DType::kF32, {}};
    auto kvc_r = p.cpu.create_kv_storage(shape);
    auto kvg_r = p.gpu->create_kv_storage(shape);
    ASSERT_TRUE(kvc_r.is_ok()) << kvc_r.status().to_string();
    ASSERT_TRUE(kvg_r.is_ok()) << kvg_r.status().to_string();
    auto kvc = std::move(kvc_r).value();
    auto kvg = std::move(kvg_r).value();
    std::vector<std::int32_t> blocks;
    for (int b = 39; b >= 0; --b) blocks.push_back(b);  // scattered, reversed
    core::Xoshiro256 rng(21);
    HostData hd;
    tensor::AttentionSpec spec{heads, kv_heads, hd_dim, 0.125f, 0.0f, window};
    auto step = [&](int first, int count) {
      std::vector<std::int32_t> tokens(static_cast<std::size_t>(count), 1), positions, rows;
      for (int i = 0; i < count; ++i) {
        positions.push_back(first + i);
        rows.push_back(i);
      }
      std::vector<tensor::SeqSlice> seqs = {{0, count, first + count, blocks.data(), 40}};
      tensor::StepBatch batch{tokens, positions, seqs, rows};
      // Tensors first: a one-token step is captured into a CUDA graph, and
      // nothing may allocate or copy synchronously while it is recorded.
      auto k = both(p, hd.random(DType::kF32, {count, kv_heads * hd_dim}, rng), true);
      auto v = both(p, hd.random(DType::kF32, {count, kv_heads * hd_dim}, rng), true);
      auto q = both(p, hd.random(DType::kF32, {count, heads * hd_dim}, rng), true);
      auto o = both(p, hd.random(DType::kF32, {count, heads * hd_dim}, rng), true);
      p.cpu.begin_step(batch);
      p.gpu->begin_step(batch);
      p.cpu.kv_write(*kvc, 0, k.c, v.c);
      p.gpu->kv_write(*kvg, 0, k.g, v.g);
      p.cpu.attention(*kvc, 0, q.c, spec, o.c);
      p.gpu->attention(*kvg, 0, q.g, spec, o.g);
      p.gpu->end_step();
      EXPECT_LT(rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c)), 1e-4)
          << "window " << window << " count " << count;
    };
    step(0, n);
    step(n, 1);
  }
}

// One MoE layer on both backends: experts of dtype `wt`, the router in f32.
struct MoeCase {
  int E, top;
  std::int64_t H, F, T;
  DType wt;
  // e4m3 experts (wt kF8E4M3): rows and columns sharing a scale (0: the
  // whole row, per channel).
  std::int64_t fp8_block_rows = 1, fp8_group = 0;
};
struct MoeRun {
  std::vector<float> gpu, cpu;
  std::uint64_t device_layers = 0;
};
MoeRun run_moe(Pair& p, const MoeCase& mc) {
  MoeRun r;
  p.plan(static_cast<int>(std::max<std::int64_t>(mc.T, 16)), 2, 16, std::max(mc.H, mc.F), mc.E,
         mc.top, mc.F);
  core::Xoshiro256 rng(3);
  HostData hd;
  std::vector<tensor::Weight> gc, uc, dc, gg, ug, dg;
  std::vector<Fp8Host> fp8;  // the e4m3 experts' host codes, alive while imported
  for (int e = 0; e < mc.E; ++e) {
    for (auto [vc, vg, n, k] : {std::tuple{&gc, &gg, mc.F, mc.H}, std::tuple{&uc, &ug, mc.F, mc.H},
                                std::tuple{&dc, &dg, mc.H, mc.F}}) {
      if (mc.wt == DType::kF8E4M3) {
        fp8.push_back(make_fp8(n, k, mc.fp8_block_rows, mc.fp8_group > 0 ? mc.fp8_group : k, rng));
        vc->push_back(*p.cpu.import_quantized(fp8.back().weight));
        vg->push_back(*p.gpu->import_quantized(fp8.back().weight));
        continue;
      }
      const Tensor w = hd.random(mc.wt, {n, k}, rng, 0.3f);
      vc->push_back({*p.cpu.import_tensor(w, false), {}, {}});
      vg->push_back({*p.gpu->import_tensor(w, false), {}, {}});
    }
  }
  const Tensor rh = hd.random(DType::kF32, {mc.E, mc.H}, rng);
  tensor::Weight rcw{*p.cpu.import_tensor(rh, false), {}, {}},
      rgw{*p.gpu->import_tensor(rh, false), {}, {}};
  tensor::MoeSpec sc{&rcw, gc, uc, dc, mc.top, true, tensor::Activation::kSilu};
  tensor::MoeSpec sg{&rgw, gg, ug, dg, mc.top, true, tensor::Activation::kSilu};
  auto x = both(p, hd.random(DType::kF32, {mc.T, mc.H}, rng), true);
  auto o = both(p, hd.random(DType::kF32, {mc.T, mc.H}, rng), true);
  const std::uint64_t before = p.gpu->device_moe_layers();
  p.cpu.moe(x.c, sc, o.c);
  p.gpu->moe(x.g, sg, o.g);
  r.gpu = fetch(*p.gpu, o.g);
  r.cpu = fetch(p.cpu, o.c);
  r.device_layers = p.gpu->device_moe_layers() - before;
  return r;
}

// The device path (routing, grouping and expert GEMVs on the GPU) against
// the CPU (f32 math: within 1e-5) for one to many pairs an expert, every
// weight dtype it takes; the host path (MLXS_CUDA_MOE_DEVICE_ROWS=0) too;
// and shapes it declines (an F not a multiple of 8) still right on the host
// path.
TEST(CudaOps, MixtureOfExperts) {
  const MoeCase cases[] = {
      {6, 2, 48, 24, 5, DType::kBF16},
      {16, 4, 64, 40, 1, DType::kBF16},
      {16, 4, 64, 40, 7, DType::kF16},
      {32, 8, 128, 96, 40, DType::kBF16},
      {8, 2, 64, 32, 24, DType::kF32},
      {64, 8, 256, 64, 3, DType::kBF16},
      {16, 4, 64, 48, 1, DType::kF8E4M3},              // per channel, one pair
      {16, 4, 128, 64, 40, DType::kF8E4M3, 16, 64},    // blocks of 16 x 64, several groups
      {8, 2, 256, 128, 120, DType::kF8E4M3, 32, 128},  // wide tiles (30 pairs an expert)
  };
  for (const MoeCase& mc : cases) {
    SCOPED_TRACE(fmt::format("E {} top {} H {} F {} T {}", mc.E, mc.top, mc.H, mc.F, mc.T));
    Pair p;
    ASSERT_TRUE(p.gpu);
    const MoeRun dev = run_moe(p, mc);
    EXPECT_EQ(dev.device_layers, 1u);
    EXPECT_LT(rel_error(dev.gpu, dev.cpu), 1e-5);
    // The host path on the serving backend: experts with more than a few
    // rows take bf16 tensor-core GEMMs (x rounded to bf16, 2^-9 relative).
    Pair host("MLXS_CUDA_MOE_DEVICE_ROWS", "0");
    ASSERT_TRUE(host.gpu);
    const MoeRun on_host = run_moe(host, mc);
    EXPECT_EQ(on_host.device_layers, 0u);
    // e4m3 experts there: x rounded to f16 (GEMV) or quantized to e4m3
    // per token (GEMM past 16 rows).
    EXPECT_LT(rel_error(on_host.gpu, on_host.cpu), mc.wt == DType::kF8E4M3 ? 0.1 : 1e-2);
  }
  // A step of more rows than a launch takes (here the largest graph's
  // batch, 256) runs in chunks; 64 pairs an expert take the wide tiles.
  {
    Pair p("MLXS_CUDA_MOE_DEVICE_ROWS", "7");
    ASSERT_TRUE(p.gpu);
    const MoeRun chunked = run_moe(p, {16, 4, 64, 40, 300, DType::kBF16});
    EXPECT_EQ(chunked.device_layers, 1u);
    EXPECT_LT(rel_error(chunked.gpu, chunked.cpu), 1e-5);
  }
  Pair p;
  ASSERT_TRUE(p.gpu);
  const MoeRun odd = run_moe(p, {6, 2, 48, 20, 5, DType::kBF16});
  EXPECT_EQ(odd.device_layers, 0u);
  EXPECT_LT(rel_error(odd.gpu, odd.cpu), 1e-5);
}

// Tensor-core tiles of 8 with K split over a block's warps (launches of few
// tiles take it) and without: both within f32's 1e-5 of the CPU, bf16 and
// e4m3 experts (per channel, and blocks of 16 x 64 whose groups a split
// slice ends inside of).
TEST(CudaOps, MixtureOfExpertsSplitK) {
  const MoeCase cases[] = {
      {16, 4, 64, 48, 7, DType::kBF16},
      {16, 4, 64, 48, 1, DType::kF8E4M3},
      {16, 4, 192, 64, 3, DType::kF8E4M3, 16, 64},
  };
  for (const MoeCase& mc : cases) {
    for (const char* split : {"0", "1"}) {
      SCOPED_TRACE(fmt::format("H {} T {} split {}", mc.H, mc.T, split));
      Pair p("MLXS_CUDA_MOE_SPLIT", split);
      ASSERT_TRUE(p.gpu);
      const MoeRun r = run_moe(p, mc);
      EXPECT_EQ(r.device_layers, 1u);
      EXPECT_LT(rel_error(r.gpu, r.cpu), 1e-5);
    }
  }
}

// Each pair's product does not depend on the tile it lands in: every
// CUDA-core tile size gives the same bits (f16 experts: 8 and 32 too, taken
// as 8), and so do bf16's tensor-core tiles of 8 and 32 (x split into two
// bf16 halves) while K is not split, within f32's 1e-5 of the CPU.
TEST(CudaOps, MixtureOfExpertsTileSizesGiveTheSameBits) {
  for (DType wt : {DType::kBF16, DType::kF16}) {
    const MoeCase mc{16, 4, 128, 64, 24, wt};
    std::vector<float> first;
    std::vector<float> mma;
    for (const char* tile : {"1", "2", "4", "8", "32"}) {
      SCOPED_TRACE(fmt::format("{} tile {}", wt == DType::kBF16 ? "bf16" : "f16", tile));
      // K unsplit in every launch (a split sums in another order).
      Pair p({{"MLXS_CUDA_MOE_TILE", tile}, {"MLXS_CUDA_MOE_SPLIT", "0"}});
      ASSERT_TRUE(p.gpu);
      const MoeRun r = run_moe(p, mc);
      EXPECT_EQ(r.device_layers, 1u);
      EXPECT_LT(rel_error(r.gpu, r.cpu), 1e-5);
      const bool tensor_cores = wt == DType::kBF16 && std::atoi(tile) >= 8;
      std::vector<float>& same = tensor_cores ? mma : first;
      if (same.empty()) {
        same = r.gpu;
      } else {
        EXPECT_EQ(r.gpu, same);
      }
    }
  }
}

// ---- vision encoder ops (tensor/encoder_ops.h) and multimodal steps ------

TEST(CudaEncoderOps, NormsActivationsRotaryPoolAndCopy) {
  Pair p;
  ASSERT_TRUE(p.gpu);
  tensor::EncoderOps* ec = p.cpu.encoder();
  tensor::EncoderOps* eg = p.gpu->encoder();
  ASSERT_NE(eg, nullptr);
  ASSERT_TRUE(ec->plan(64, 4).is_ok());
  ASSERT_TRUE(eg->plan(64, 4).is_ok());
  core::Xoshiro256 rng(5);
  HostData hd;
  for (std::int64_t n : {24, 72, 1300}) {  // one warp, a partial block, several passes
    SCOPED_TRACE(fmt::format("layer_norm width {}", n));
    auto x = both(p, hd.random(DType::kF32, {6, n}, rng, 3.0f), true);
    auto w = both(p, hd.random(DType::kF32, {n}, rng), true);
    auto b = both(p, hd.random(DType::kF32, {n}, rng), true);
    auto o = both(p, hd.random(DType::kF32, {6, n}, rng), true);
    ec->layer_norm(x.c, w.c, b.c, 1e-6f, o.c);
    eg->layer_norm(x.g, w.g, b.g, 1e-6f, o.g);
    EXPECT_LT(rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c)), 1e-6);
    ec->layer_norm(x.c, w.c, Tensor{}, 1e-5f, x.c);  // no bias, in place
    eg->layer_norm(x.g, w.g, Tensor{}, 1e-5f, x.g);
    EXPECT_LT(rel_error(fetch(*p.gpu, x.g), fetch(p.cpu, x.c)), 1e-6);
  }
  for (auto act : {tensor::Activation::kSilu, tensor::Activation::kGeluTanh,
                   tensor::Activation::kGelu, tensor::Activation::kQuickGelu}) {
    SCOPED_TRACE(static_cast<int>(act));
    auto x = both(p, hd.random(DType::kF32, {7, 333}, rng, 4.0f), true);
    ec->activation(x.c, act);
    eg->activation(x.g, act);
    EXPECT_LT(rel_error(fetch(*p.gpu, x.g), fetch(p.cpu, x.c)), 1e-6);
  }
  {  // rotary: 3 heads of 16 over 5 rows, each row its own table
    auto x = both(p, hd.random(DType::kF32, {5, 48}, rng), true);
    auto cs = both(p, hd.random(DType::kF32, {5, 16}, rng), true);
    ec->rotary(x.c, 16, cs.c);
    eg->rotary(x.g, 16, cs.g);
    EXPECT_LT(rel_error(fetch(*p.gpu, x.g), fetch(p.cpu, x.c)), 1e-6);
  }
  {  // avg_pool: a 6 x 6 grid of 40 channels in 3 x 3 cells
    auto x = both(p, hd.random(DType::kF32, {36, 40}, rng), true);
    auto o = both(p, hd.random(DType::kF32, {4, 40}, rng), true);
    ec->avg_pool(x.c, 6, 6, 3, o.c);
    eg->avg_pool(x.g, 6, 6, 3, o.g);
    EXPECT_LT(rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c)), 1e-6);
  }
  {  // copy: one row into the middle of another tensor
    auto src = both(p, hd.random(DType::kF32, {1, 40}, rng), true);
    auto dst = both(p, hd.random(DType::kF32, {3, 40}, rng), true);
    ec->copy(src.c, dst.c.rows_view(1, 2));
    eg->copy(src.g, dst.g.rows_view(1, 2));
    EXPECT_EQ(fetch(*p.gpu, dst.g), fetch(p.cpu, dst.c));
  }
}

// Segments of every size against the CPU: single rows, segments that end
// inside a block of queries or a tile of keys, one long segment over many
// tiles; three lists in turn so the device's segment slots are refilled.
TEST(CudaEncoderOps, SegmentAttention) {
  Pair p;
  ASSERT_TRUE(p.gpu);
  tensor::EncoderOps* ec = p.cpu.encoder();
  tensor::EncoderOps* eg = p.gpu->encoder();
  ASSERT_TRUE(ec->plan(1100, 6).is_ok());
  ASSERT_TRUE(eg->plan(1100, 6).is_ok());
  core::Xoshiro256 rng(17);
  HostData hd;
  const std::vector<std::vector<std::int32_t>> lists = {
      {0, 1, 2, 37, 40, 100, 133}, {0, 133}, {0, 16, 17, 49, 81, 133}};
  for (int head_dim : {8, 64, 72, 80, 256}) {
    for (std::size_t round = 0; round < 2 * lists.size(); ++round) {
      const auto& segments = lists[round % lists.size()];
      const int heads = head_dim == 256 ? 2 : 3;
      const std::int64_t N = segments.back();
      SCOPED_TRACE(fmt::format("head_dim {} list {}", head_dim, round % lists.size()));
      const std::int64_t W = heads * head_dim;
      auto q = both(p, hd.random(DType::kF32, {N, W}, rng, 2.0f), true);
      auto k = both(p, hd.random(DType::kF32, {N, W}, rng, 2.0f), true);
      auto v = both(p, hd.random(DType::kF32, {N, W}, rng), true);
      auto o = both(p, hd.random(DType::kF32, {N, W}, rng), true);
      const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      ec->segment_attention(q.c, k.c, v.c, heads, head_dim, scale, segments, o.c);
      eg->segment_attention(q.g, k.g, v.g, heads, head_dim, scale, segments, o.g);
      EXPECT_LT(rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c)), 1e-5);
    }
  }
  {  // one segment of 1100 rows: many query blocks and key tiles
    const int heads = 2, head_dim = 64;
    const std::int64_t N = 1100, W = heads * head_dim;
    const std::vector<std::int32_t> segments = {0, 1100};
    auto q = both(p, hd.random(DType::kF32, {N, W}, rng), true);
    auto k = both(p, hd.random(DType::kF32, {N, W}, rng), true);
    auto v = both(p, hd.random(DType::kF32, {N, W}, rng), true);
    auto o = both(p, hd.random(DType::kF32, {N, W}, rng), true);
    ec->segment_attention(q.c, k.c, v.c, heads, head_dim, 0.125f, segments, o.c);
    eg->segment_attention(q.g, k.g, v.g, heads, head_dim, 0.125f, segments, o.g);
    EXPECT_LT(rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c)), 1e-5);
  }
}

// The tensor-core kernels of the backend's default (non-exact) mode: the f16
// mma kernel (the default) and the TF32 WMMA one (MLXS_SEGMENT_ATTENTION=tf32).
// Both round Q, K, V and the probabilities to a 10-bit mantissa (2^-11
// relative) and accumulate in f32, so both keep the same bound against the
// CPU: 3e-3 relative, looser than the f32 kernel's 1e-5; head_dim 256 exceeds
// them and takes the f32 kernel.
class SegmentAttentionTensorCores : public ::testing::TestWithParam<const char*> {};

TEST_P(SegmentAttentionTensorCores, MatchesCpu) {
  ::setenv("MLXS_SEGMENT_ATTENTION", GetParam(), 1);
  Pair p(false);
  ::unsetenv("MLXS_SEGMENT_ATTENTION");
  ASSERT_TRUE(p.gpu);
  tensor::EncoderOps* ec = p.cpu.encoder();
  tensor::EncoderOps* eg = p.gpu->encoder();
  ASSERT_TRUE(ec->plan(1100, 6).is_ok());
  ASSERT_TRUE(eg->plan(1100, 6).is_ok());
  core::Xoshiro256 rng(23);
  HostData hd;
  double worst = 0;
  const std::vector<std::vector<std::int32_t>> lists = {
      {0, 1, 2, 37, 40, 100, 133}, {0, 133}, {0, 64, 65, 130, 1100}};
  for (int head_dim : {8, 40, 64, 72, 80, 128, 256}) {
    for (const auto& segments : lists) {
      const int heads = 2;
      const std::int64_t N = segments.back();
      SCOPED_TRACE(fmt::format("head_dim {} rows {} segments {}", head_dim, N, segments.size()));
      const std::int64_t W = heads * head_dim;
      auto q = both(p, hd.random(DType::kF32, {N, W}, rng, 2.0f), true);
      auto k = both(p, hd.random(DType::kF32, {N, W}, rng, 2.0f), true);
      auto v = both(p, hd.random(DType::kF32, {N, W}, rng), true);
      auto o = both(p, hd.random(DType::kF32, {N, W}, rng), true);
      const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      ec->segment_attention(q.c, k.c, v.c, heads, head_dim, scale, segments, o.c);
      eg->segment_attention(q.g, k.g, v.g, heads, head_dim, scale, segments, o.g);
      const double err = rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c));
      EXPECT_LT(err, 3e-3);
      worst = std::max(worst, err);
    }
  }
  std::printf("segment attention %s: max relative error %.3g against the CPU\n", GetParam(), worst);
}

INSTANTIATE_TEST_SUITE_P(CudaEncoderOps, SegmentAttentionTensorCores,
                         ::testing::Values("f16", "tf32"));

// The per-row RoPE + cache-append kernel (prefill steps past
// kRopeHeadMaxRows; here forced by MLXS_CUDA_ROPE_HEAD_MAX_ROWS=0) works in
// float4s where the rotation is a multiple of 8 dimensions and value by
// value otherwise (rot 20). Its queries and cached keys and values (read back
// through attention) match the per-head kernel's on f32, bf16 and e4m3
// caches, and the CPU's on f32.
TEST(CudaOps, RopeAndCachePerRowKernelMatchesPerHead) {
  const int heads = 4, kv_heads = 2, hd_dim = 64, block = 16, T = 40;
  for (const DType cache : {DType::kF32, DType::kBF16, DType::kF8E4M3}) {
    for (const int rot : {64, 32, 20}) {
      SCOPED_TRACE(fmt::format("cache {} rot {}", static_cast<int>(cache), rot));
      Pair row("MLXS_CUDA_ROPE_HEAD_MAX_ROWS", "0");
      Pair head("MLXS_CUDA_ROPE_HEAD_MAX_ROWS", "100000");
      ASSERT_TRUE(row.gpu && head.gpu);
      row.plan(T, 1, 64, 256);
      head.plan(T, 1, 64, 256);
      tensor::RopeSpec rope;
      rope.rot_dim = rot;
      for (int i = 0; i < rot / 2; ++i) rope.inv_freq.push_back(std::pow(10000.0, -2.0 * i / rot));
      const int rc = row.cpu.register_rope(rope);
      const int rr = row.gpu->register_rope(rope), rh = head.gpu->register_rope(rope);
      tensor::KvCacheShape shape{1, 8, block, kv_heads, hd_dim, cache, {}};
      auto kvr = row.gpu->create_kv_storage(shape).value();
      auto kvh = head.gpu->create_kv_storage(shape).value();
      tensor::KvCacheShape shape32 = shape;
      shape32.dtype = DType::kF32;
      auto kvc = row.cpu.create_kv_storage(shape32).value();
      core::Xoshiro256 rng(47);
      HostData hd;
      std::vector<std::int32_t> blocks = {6, 1, 3};
      std::vector<std::int32_t> tokens(T, 3), positions, rows;
      for (std::int32_t i = 0; i < T; ++i) {
        positions.push_back(i);
        rows.push_back(i);
      }
      std::vector<tensor::SeqSlice> seqs = {{0, T, T, blocks.data(), 3}};
      const tensor::StepBatch batch{tokens, positions, seqs, rows};
      tensor::AttentionSpec spec{heads, kv_heads, hd_dim, 0.125f, 0.0f, 0};
      const Tensor qh = hd.random(DType::kF32, {T, heads * hd_dim}, rng);
      const Tensor kh = hd.random(DType::kF32, {T, kv_heads * hd_dim}, rng);
      const Tensor vh = hd.random(DType::kF32, {T, kv_heads * hd_dim}, rng);
      std::vector<float> q_out[3], o_out[3];  // row kernel, head kernel, CPU
      for (int side = 0; side < 3; ++side) {
        tensor::Backend& be = side == 0   ? static_cast<tensor::Backend&>(*row.gpu)
                              : side == 1 ? static_cast<tensor::Backend&>(*head.gpu)
                                          : static_cast<tensor::Backend&>(row.cpu);
        tensor::KvStorage& kv = side == 0 ? *kvr : side == 1 ? *kvh : *kvc;
        const int rid = side == 0 ? rr : side == 1 ? rh : rc;
        const bool gpu = side < 2;
        Tensor t[4];
        std::vector<std::unique_ptr<tensor::DeviceBuffer>> bufs;
        const Tensor* src[4] = {&qh, &kh, &vh, &qh};
        for (int i = 0; i < 4; ++i) {
          bufs.push_back(be.allocate(static_cast<std::size_t>(src[i]->numel()) * 4).value());
          t[i] = Tensor(bufs.back()->data(), DType::kF32, {src[i]->rows(), src[i]->cols()},
                        gpu ? tensor::Device::kCuda : tensor::Device::kCpu);
          ASSERT_TRUE(be.upload(src[i]->data, t[i]).is_ok());
        }
        be.begin_step(batch);
        be.rope_and_cache(t[0], t[1], t[2], hd_dim, rid, kv, 0);
        be.attention(kv, 0, t[0], spec, t[3]);
        be.end_step();
        q_out[side] = fetch(be, t[0]);
        o_out[side] = fetch(be, t[3]);
      }
      EXPECT_LT(rel_error(q_out[0], q_out[1]), 1e-6);
      EXPECT_LT(rel_error(o_out[0], o_out[1]), 1e-6);
      EXPECT_LT(rel_error(q_out[0], q_out[2]), 1e-5);
      if (cache == DType::kF32) {
        EXPECT_LT(rel_error(o_out[0], o_out[2]), 1e-4);
      }
    }
  }
}

// A prefill step with M-RoPE positions (3 axes) and a bidirectional span
// (rows 2..5 see through row 5), then decode steps that carry no positions
// of their own (captured and replayed as CUDA graphs) on the same rope.
TEST(CudaOps, MropeAndBidirectionalSpans) {
  Pair p;
  ASSERT_TRUE(p.gpu);
  const int heads = 4, kv_heads = 2, hd_dim = 16, block = 4;
  p.plan(16, 2, 32, 64);
  tensor::RopeSpec rope;
  rope.rot_dim = hd_dim;
  for (int i = 0; i < hd_dim / 2; ++i) {
    rope.inv_freq.push_back(std::pow(10000.0, -2.0 * i / hd_dim));
    rope.axis.push_back(static_cast<std::uint8_t>(i < 2 ? 0 : (i < 5 ? 1 : 2)));
  }
  const int rc = p.cpu.register_rope(rope), rg = p.gpu->register_rope(rope);
  tensor::KvCacheShape shape{1, 8, block, kv_heads, hd_dim, DType::kF32, {}};
  auto kvc = p.cpu.create_kv_storage(shape).value();
  auto kvg = p.gpu->create_kv_storage(shape).value();
  core::Xoshiro256 rng(31);
  HostData hd;
  std::vector<std::int32_t> blocks = {5, 2, 7};
  tensor::AttentionSpec spec{heads, kv_heads, hd_dim, 0.25f, 0.0f, 0};
  // Activations of 8 rows allocated once: a replayed graph reads the
  // pointers it was captured with. Fresh values are uploaded before a step.
  auto q8 = both(p, hd.random(DType::kF32, {8, heads * hd_dim}, rng), true);
  auto k8 = both(p, hd.random(DType::kF32, {8, kv_heads * hd_dim}, rng), true);
  auto v8 = both(p, hd.random(DType::kF32, {8, kv_heads * hd_dim}, rng), true);
  auto o8 = both(p, hd.random(DType::kF32, {8, heads * hd_dim}, rng), true);
  auto run = [&](std::vector<std::int32_t> positions, std::vector<std::int32_t> rope_positions,
                 std::vector<std::int32_t> attend_until) {
    const auto T = static_cast<std::int32_t>(positions.size());
    std::vector<std::int32_t> tokens(positions.size(), 3), rows;
    for (std::int32_t i = 0; i < T; ++i) rows.push_back(i);
    std::vector<tensor::SeqSlice> seqs = {{0, T, positions.back() + 1, blocks.data(), 3}};
    tensor::StepBatch batch{tokens, positions, seqs, rows};
    batch.rope_positions = rope_positions;
    batch.attend_until = attend_until;
    Both q{q8.c.rows_view(0, T), q8.g.rows_view(0, T)};
    Both k{k8.c.rows_view(0, T), k8.g.rows_view(0, T)};
    Both v{v8.c.rows_view(0, T), v8.g.rows_view(0, T)};
    Both o{o8.c.rows_view(0, T), o8.g.rows_view(0, T)};
    for (Both* t : {&q, &k, &v}) {
      const Tensor h = hd.random(DType::kF32, {T, t->c.cols()}, rng);
      ASSERT_TRUE(p.cpu.upload(h.data, t->c).is_ok());
      ASSERT_TRUE(p.gpu->upload(h.data, t->g).is_ok());
    }
    p.cpu.begin_step(batch);
    p.gpu->begin_step(batch);
    p.cpu.rope_and_cache(q.c, k.c, v.c, hd_dim, rc, *kvc, 0);
    p.gpu->rope_and_cache(q.g, k.g, v.g, hd_dim, rg, *kvg, 0);
    p.cpu.attention(*kvc, 0, q.c, spec, o.c);
    p.gpu->attention(*kvg, 0, q.g, spec, o.g);
    p.gpu->end_step();
    EXPECT_LT(rel_error(fetch(*p.gpu, q.g), fetch(p.cpu, q.c)), 1e-5) << "T " << T;
    EXPECT_LT(rel_error(fetch(*p.gpu, o.g), fetch(p.cpu, o.c)), 1e-5) << "T " << T;
  };
  // Rows 2..5 an image of 2 x 2: its axes differ; the text after it resumes
  // past the image's largest position.
  run({0, 1, 2, 3, 4, 5, 6, 7},
      {0, 1, 2, 2, 2, 2, 4, 5, 0, 1, 2, 2, 3, 3, 4, 5, 0, 1, 2, 3, 2, 3, 4, 5},
      {1, 2, 6, 6, 6, 6, 7, 8});
  for (int i = 0; i < 3; ++i) run({8 + i}, {}, {});  // the graph records, then replays
}

}  // namespace
}  // namespace mlxs::backend
