// Quantized linear layers on the CPU against a float64 product of the exactly
// dequantized weights, for every affine bit width and group size, both FP8
// layouts, one and several input rows; plus the scalar codecs they rest on.
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/quant_int8.h"
#include "core/half.h"
#include "tensor/quant.h"

namespace mlxs::backend::cpu {
namespace {

using tensor::DType;
using tensor::QuantFormat;
using tensor::Tensor;
using tensor::Weight;

// A quantized weight and the storage its views point into.
struct HostQuant {
  std::vector<std::uint8_t> codes;
  std::vector<std::uint16_t> scales, biases;  // bf16 (or f16, retype_params)
  std::vector<float> scales_f32;              // fp8 block scales (or affine ones, retype_params)
  std::vector<float> biases_f32;
  Weight weight;
};

// The affine weight's bf16 scales and biases stored as `dtype` instead, the
// same values (bf16 values of this range are exact in f16 and f32), so the
// reference is unchanged.
void retype_params(HostQuant& h, DType dtype) {
  h.weight.quant.scales.dtype = dtype;
  h.weight.quant.biases.dtype = dtype;
  if (dtype == DType::kF32) {
    for (auto [from, to] : {std::pair{&h.scales, &h.scales_f32}, {&h.biases, &h.biases_f32}}) {
      to->clear();
      for (std::uint16_t v : *from) {
        to->push_back(core::bf16_to_f32(v));
      }
    }
    h.weight.quant.scales.data = h.scales_f32.data();
    h.weight.quant.biases.data = h.biases_f32.data();
  } else if (dtype == DType::kF16) {
    for (auto* v : {&h.scales, &h.biases}) {
      for (auto& e : *v) {
        e = core::f32_to_f16(core::bf16_to_f32(e));
      }
    }
  }
}

HostQuant make_affine(std::int64_t N, std::int64_t K, int bits, std::int64_t group,
                      std::mt19937& rng) {
  HostQuant h;
  const std::int64_t row_bytes = tensor::packed_row_bytes(QuantFormat::kAffine, bits, K);
  h.codes.resize(static_cast<std::size_t>(N * row_bytes));
  h.scales.resize(static_cast<std::size_t>(N * K / group));
  h.biases.resize(h.scales.size());
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> row(static_cast<std::size_t>(K));
  for (std::int64_t n = 0; n < N; ++n) {
    for (auto& v : row) v = dist(rng);
    tensor::quantize_affine_row(row.data(), K, bits, group, h.codes.data() + n * row_bytes,
                                h.scales.data() + n * (K / group),
                                h.biases.data() + n * (K / group));
  }
  h.weight.w = Tensor(h.codes.data(), DType::kU32, {N, K * bits / 32});
  h.weight.quant.format = QuantFormat::kAffine;
  h.weight.quant.bits = bits;
  h.weight.quant.group_size = group;
  h.weight.quant.in_features = K;
  h.weight.quant.scales = Tensor(h.scales.data(), DType::kBF16, {N, K / group});
  h.weight.quant.biases = Tensor(h.biases.data(), DType::kBF16, {N, K / group});
  return h;
}

// block_rows 0: per channel (one scale per row over all of K).
HostQuant make_fp8(std::int64_t N, std::int64_t K, std::int64_t block_rows, std::int64_t block_cols,
                   std::mt19937& rng) {
  HostQuant h;
  h.codes.resize(static_cast<std::size_t>(N * K));
  std::uniform_int_distribution<int> code(0, 255);
  for (auto& c : h.codes) {
    c = static_cast<std::uint8_t>(code(rng));
    if ((c & 0x7F) == 0x7F) c = 0x11;  // NaN codes never occur in checkpoints
  }
  const bool channel = block_rows == 0;
  const std::int64_t br = channel ? 1 : block_rows;
  const std::int64_t bc = channel ? K : block_cols;
  const std::int64_t sr = (N + br - 1) / br;
  const std::int64_t sc = (K + bc - 1) / bc;
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  h.scales_f32.resize(static_cast<std::size_t>(sr * sc));
  for (auto& s : h.scales_f32) s = scale(rng);
  h.weight.w = Tensor(h.codes.data(), DType::kF8E4M3, {N, K});
  h.weight.quant.format = QuantFormat::kFp8;
  h.weight.quant.bits = 8;
  h.weight.quant.group_size = bc;
  h.weight.quant.block_rows = br;
  h.weight.quant.in_features = K;
  h.weight.quant.scales = Tensor(h.scales_f32.data(), DType::kF32, {sr, sc});
  return h;
}

struct Fixture {
  std::shared_ptr<ThreadPool> pool = std::make_shared<ThreadPool>(2);
  CpuBackend backend{pool};
  Fixture(std::int64_t M, std::int64_t K, std::int64_t N) {
    tensor::StepCapacity cap;
    cap.max_tokens = static_cast<int>(M);
    cap.max_seqs = 1;
    cap.max_context = 1;
    cap.max_logit_rows = 1;
    cap.max_linear_in = K;
    cap.max_linear_out = N;
    cap.max_heads = 1;
    cap.max_head_dim = 2;
    EXPECT_TRUE(backend.plan_step(cap).is_ok());
  }
};

// y = x · Wᵀ through the backend vs float64 over the dequantized weights.
void check_linear(const HostQuant& h, std::int64_t M, std::mt19937& rng) {
  const std::int64_t N = h.weight.out_features();
  const std::int64_t K = h.weight.in_features();
  Fixture f(M, K, N);
  f.backend.set_int8_activations(false);  // the exact f32 kernels
  auto imported = f.backend.import_quantized(h.weight);
  ASSERT_TRUE(imported.is_ok()) << imported.status().to_string();
  std::vector<float> bias(static_cast<std::size_t>(N));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& b : bias) b = dist(rng);
  imported->bias = Tensor(bias.data(), DType::kF32, {N});
  std::vector<float> x(static_cast<std::size_t>(M * K));
  for (auto& v : x) v = dist(rng);
  std::vector<float> y(static_cast<std::size_t>(M * N), -1.0f);
  const tensor::LinearOut out{&*imported, Tensor(y.data(), DType::kF32, {M, N})};
  f.backend.linear(Tensor(x.data(), DType::kF32, {M, K}), std::span(&out, 1));

  std::vector<float> w(static_cast<std::size_t>(N * K));
  tensor::dequantize_rows(h.weight.w, h.weight.quant, 0, N, w.data());
  for (std::int64_t m = 0; m < M; ++m) {
    for (std::int64_t n = 0; n < N; ++n) {
      double ref = bias[static_cast<std::size_t>(n)];
      double mag = std::fabs(ref);
      for (std::int64_t k = 0; k < K; ++k) {
        const double p = static_cast<double>(x[static_cast<std::size_t>(m * K + k)]) *
                         w[static_cast<std::size_t>(n * K + k)];
        ref += p;
        mag += std::fabs(p);
      }
      ASSERT_NEAR(y[static_cast<std::size_t>(m * N + n)], ref, 1e-5 * mag + 1e-6)
          << "row " << m << " out " << n;
    }
  }
}

class AffineLinear : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(AffineLinear, MatchesDequantizedFloat64) {
  const auto [bits, group] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(bits * 1000 + group));
  const HostQuant h = make_affine(45, 256, bits, group, rng);
  for (std::int64_t M : {1, 3, 20}) {
    SCOPED_TRACE("M=" + std::to_string(M));
    check_linear(h, M, rng);
  }
}

INSTANTIATE_TEST_SUITE_P(BitsAndGroups, AffineLinear,
                         ::testing::Combine(::testing::Values(2, 3, 4, 5, 6, 8),
                                            ::testing::Values(32, 64, 128)));

TEST(Fp8Linear, BlocksWithPartialEdges) {
  std::mt19937 rng(7);
  // 50 x 200 in 32 x 32 blocks: the last block row and column are partial.
  const HostQuant h = make_fp8(50, 200, 32, 32, rng);
  for (std::int64_t M : {1, 5}) check_linear(h, M, rng);
}

TEST(Fp8Linear, PerChannel) {
  std::mt19937 rng(8);
  const HostQuant h = make_fp8(37, 130, 0, 0, rng);
  for (std::int64_t M : {1, 4}) check_linear(h, M, rng);
}

// The int8-activation path against float64, within the bound quant_int8.h
// states: each block's x rounds by at most half its step, max|x_b| / 127 / 256
// with two digits, max|x_b| / 127 with one. Scales and biases in each dtype a
// checkpoint stores them in; import keeps 16-bit ones as they are.

// The kernels' view of an imported affine weight (its params as imported).
kernels::QuantMatrix int8_matrix(const HostQuant& h, const Weight& imported) {
  const tensor::QuantSpec& q = h.weight.quant;
  kernels::QuantMatrix m;
  m.format = QuantFormat::kAffine;
  m.bits = q.bits;
  m.group = q.group_size;
  m.K = q.in_features;
  m.row_bytes = tensor::packed_row_bytes(QuantFormat::kAffine, q.bits, q.in_features);
  m.groups_per_row = q.in_features / q.group_size;
  m.codes = h.codes.data();
  m.params = kernels::param_type(imported.quant.scales.dtype);
  m.scales = imported.quant.scales.data;
  m.biases = imported.quant.biases.data;
  return m;
}

// Row n of W · x in float64 over the dequantized weights (`dense`, [N, K]).
double reference_dot(const std::vector<float>& dense, const std::vector<float>& x, std::int64_t n) {
  const auto K = static_cast<std::int64_t>(x.size());
  double ref = 0.0;
  for (std::int64_t k = 0; k < K; ++k) {
    ref += static_cast<double>(x[static_cast<std::size_t>(k)]) *
           dense[static_cast<std::size_t>(n * K + k)];
  }
  return ref;
}

// The bound on row n's error: per block, |scale| · half x's step ·
// sum|q - c| (c the centring quant_int8.h applies), plus f32 rounding.
double int8_bound(const kernels::QuantMatrix& m, const std::vector<float>& x, std::int64_t n,
                  int digits) {
  double bound = 1e-6;
  for (std::int64_t b = 0; b < m.K / 32; ++b) {
    double amax = 0.0;
    double qsum = 0.0;
    for (std::int64_t k = b * 32; k < (b + 1) * 32; ++k) {
      amax = std::max(amax, static_cast<double>(std::fabs(x[static_cast<std::size_t>(k)])));
      const double c = m.bits == 4 ? 8.0 : 128.0;
      qsum += std::fabs(tensor::affine_code(m.codes + n * m.row_bytes, m.bits, k) - c);
    }
    const double scale = std::fabs(m.scale(n * m.groups_per_row + b * 32 / m.group));
    // x is held to its int8 step (1/256 of it with two digits): half of
    // that is the rounding.
    const double step = amax / 127.0 / (digits == 2 ? 256.0 : 1.0);
    bound += scale * (step * 0.5) * qsum * 1.01 + 1e-6 * scale * qsum * amax;
  }
  return bound;
}

class Int8Linear : public ::testing::TestWithParam<std::tuple<int, int, int, int, DType>> {};

TEST_P(Int8Linear, WithinTheRoundingBoundOfX) {
  const auto [bits, group, K, digits, dtype] = GetParam();
  if (K % group != 0) GTEST_SKIP() << "affine groups must divide the width";
  std::mt19937 rng(static_cast<unsigned>(bits * 7 + group + K));
  const std::int64_t N = 37;
  HostQuant h = make_affine(N, K, bits, group, rng);
  retype_params(h, dtype);
  Fixture f(1, K, N);
  auto w = f.backend.import_quantized(h.weight);
  ASSERT_TRUE(w.is_ok());
  ASSERT_EQ(w->quant.scales.dtype, dtype);
  ASSERT_EQ(w->quant.biases.dtype, dtype);
  const kernels::QuantMatrix m = int8_matrix(h, *w);

  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(K));
  for (auto& v : x) v = dist(rng);
  std::vector<float> scratch(kernels::int8_row_floats(K));
  const kernels::Int8Row row = kernels::int8_row_in(scratch.data(), K, digits == 1);
  kernels::quantize_row_int8(x.data(), K, row);
  std::vector<float> y(static_cast<std::size_t>(N));
  kernels::int8_linear_rows(m, row, 0, N, nullptr, y.data());

  std::vector<float> dense(static_cast<std::size_t>(N * K));
  tensor::dequantize_rows(h.weight.w, h.weight.quant, 0, N, dense.data());
  for (std::int64_t n = 0; n < N; ++n) {
    EXPECT_NEAR(y[static_cast<std::size_t>(n)], reference_dot(dense, x, n),
                int8_bound(m, x, n, digits))
        << "row " << n;
  }
}

// 384 columns are whole 128-column chunks; 320 ends in two lone blocks;
// 1216 (group 32: 38 groups) leaves a partial vector of group terms; 96 is
// lone blocks only (fewer than one chunk); 640 is an odd number of chunks,
// which leaves the second of the kernels' two accumulators one short.
INSTANTIATE_TEST_SUITE_P(
    BitsGroupsWidths, Int8Linear,
    ::testing::Combine(::testing::Values(4, 8), ::testing::Values(32, 64, 128),
                       ::testing::Values(384, 320, 1216, 96, 640), ::testing::Values(1, 2),
                       ::testing::Values(DType::kBF16, DType::kF16, DType::kF32)),
    [](const auto& param_info) {
      const auto& p = param_info.param;
      return "q" + std::to_string(std::get<0>(p)) + "_g" + std::to_string(std::get<1>(p)) + "_k" +
             std::to_string(std::get<2>(p)) + "_d" + std::to_string(std::get<3>(p)) + "_" +
             std::string(tensor::dtype_name(std::get<4>(p)));
    });

// The int8 path as decode reaches it: one input row through
// CpuBackend::linear, a 4-bit and an 8-bit weight in one call (their rows
// split in chunks over the pool's threads, the second weight's starting
// mid-chunk), biases added; each output within the bound above. Where the
// int8 path is off (MLXS_INT8_ISA=none, or two digits without VNNI or NEON)
// the exact kernels answer, well within it.
class Int8BackendLinear : public ::testing::TestWithParam<int> {};

TEST_P(Int8BackendLinear, OneRowWithinTheRoundingBoundOfX) {
  const int digits = GetParam();
  const std::int64_t K = 1216;
  std::mt19937 rng(static_cast<unsigned>(11 + digits));
  HostQuant h4 = make_affine(45, K, 4, 64, rng);
  HostQuant h8 = make_affine(37, K, 8, 32, rng);
  Fixture f(1, K, 45 + 37);
  f.backend.set_int8_activations(true);
  f.backend.set_int8_digits(digits);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(K));
  for (auto& v : x) v = dist(rng);

  std::vector<HostQuant*> hosts{&h4, &h8};
  std::vector<Weight> weights;
  std::vector<std::vector<float>> biases, ys;
  for (HostQuant* h : hosts) {
    auto w = f.backend.import_quantized(h->weight);
    ASSERT_TRUE(w.is_ok()) << w.status().to_string();
    const std::int64_t N = h->weight.out_features();
    biases.emplace_back(static_cast<std::size_t>(N));
    for (auto& b : biases.back()) b = dist(rng);
    w->bias = Tensor(biases.back().data(), DType::kF32, {N});
    weights.push_back(std::move(*w));
    ys.emplace_back(static_cast<std::size_t>(N), -1.0f);
  }
  std::vector<tensor::LinearOut> outs;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const auto N = static_cast<std::int64_t>(ys[i].size());
    outs.push_back({&weights[i], Tensor(ys[i].data(), DType::kF32, {1, N})});
  }
  f.backend.linear(Tensor(x.data(), DType::kF32, {1, K}), outs);

  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const HostQuant& h = *hosts[i];
    const std::int64_t N = h.weight.out_features();
    const kernels::QuantMatrix m = int8_matrix(h, weights[i]);
    std::vector<float> dense(static_cast<std::size_t>(N * K));
    tensor::dequantize_rows(h.weight.w, h.weight.quant, 0, N, dense.data());
    for (std::int64_t n = 0; n < N; ++n) {
      EXPECT_NEAR(ys[i][static_cast<std::size_t>(n)],
                  biases[i][static_cast<std::size_t>(n)] + reference_dot(dense, x, n),
                  int8_bound(m, x, n, digits))
          << m.bits << "-bit weight, row " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Digits, Int8BackendLinear, ::testing::Values(1, 2));

// quantize_row_int8 as this CPU runs it (VNNI, NEON or scalar code): each
// digit is x's block-scaled value rounded to nearest even, both layouts hold
// the same digits (a partial last chunk spilling into the interleaved pad),
// and the scales, sums and rounding losses match their definitions.
TEST(Int8Quantize, DigitsLayoutsAndSums) {
  const std::int64_t K = 320;  // two 128-column chunks and two lone blocks
  std::mt19937 rng(21);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(K));
  for (auto& v : x) v = dist(rng);
  for (std::int64_t k = 96; k < 128; ++k) x[static_cast<std::size_t>(k)] = 0.0f;  // amax 0
  for (int digits : {1, 2}) {
    SCOPED_TRACE("digits " + std::to_string(digits));
    std::vector<float> scratch(kernels::int8_row_floats(K));
    const kernels::Int8Row row = kernels::int8_row_in(scratch.data(), K, digits == 1);
    kernels::quantize_row_int8(x.data(), K, row);
    for (std::int64_t blk = 0; blk < K / 32; ++blk) {
      float amax = 0.0f;
      double sum = 0.0;
      for (std::int64_t k = blk * 32; k < (blk + 1) * 32; ++k) {
        amax = std::max(amax, std::fabs(x[static_cast<std::size_t>(k)]));
        sum += x[static_cast<std::size_t>(k)];
      }
      const float dx = amax / 127.0f;
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      EXPECT_EQ(row.block_scale[blk], dx) << "block " << blk;
      EXPECT_NEAR(row.sum32[blk], sum, 1e-4) << "block " << blk;
      double held = 0.0;  // sum of the digits' value, hi + lo / 256
      for (std::int64_t k = blk * 32; k < (blk + 1) * 32; ++k) {
        const float t = x[static_cast<std::size_t>(k)] * inv;
        const float hi = std::nearbyint(t);
        const std::int64_t slot =
            (blk / 4) * 128 + (blk % 4) * 16 + (k % 2 == 0 ? 0 : 64) + (k % 32) / 2;
        EXPECT_EQ(row.natural[0][k], static_cast<std::int8_t>(hi)) << "column " << k;
        EXPECT_EQ(row.interleaved[0][slot], static_cast<std::int8_t>(hi)) << "column " << k;
        held += hi;
        if (digits == 1) continue;
        const float lo = std::min(std::nearbyint((t - hi) * 256.0f), 127.0f);
        EXPECT_EQ(row.natural[1][k], static_cast<std::int8_t>(lo)) << "column " << k;
        EXPECT_EQ(row.interleaved[1][slot], static_cast<std::int8_t>(lo)) << "column " << k;
        held += lo / 256.0;
      }
      EXPECT_NEAR(row.lost32[blk], sum - dx * held, 1e-4) << "block " << blk;
    }
    for (std::int64_t g = 0; g < K / 64; ++g) {
      EXPECT_NEAR(row.sum64[g], row.sum32[2 * g] + row.sum32[2 * g + 1], 1e-5);
      EXPECT_NEAR(row.lost64[g], row.lost32[2 * g] + row.lost32[2 * g + 1], 1e-5);
    }
    for (std::int64_t g = 0; g < K / 128; ++g) {
      EXPECT_NEAR(row.sum128[g], row.sum64[2 * g] + row.sum64[2 * g + 1], 1e-5);
    }
  }
}

// Under MLXS_INT8_ISA (the forced-dispatch ctest entries, CMakeLists.txt) the
// int8 kernels really run on the set named, so those entries test it.
TEST(Int8Dispatch, FollowsMlxsInt8Isa) {
  const char* forced = std::getenv("MLXS_INT8_ISA");
  if (forced == nullptr) {
    GTEST_SKIP() << "MLXS_INT8_ISA not set";
  }
  EXPECT_EQ(kernels::int8_isa_name(), forced);
  // "none" turns the int8 path off (the f32 kernels' runs).
  EXPECT_EQ(kernels::int8_path_available(1), std::string_view(forced) != "none");
}

// What detection alone picks, where a ctest entry knows the CPU
// (MLXS_EXPECT_INT8_ISA: the aarch64 runs under qemu, with and without the
// dot product).
TEST(Int8Dispatch, DetectsWhatTheCpuHas) {
  const char* expected = std::getenv("MLXS_EXPECT_INT8_ISA");
  if (expected == nullptr) {
    GTEST_SKIP() << "MLXS_EXPECT_INT8_ISA not set";
  }
  ASSERT_EQ(std::getenv("MLXS_INT8_ISA"), nullptr) << "a forced choice is not a detected one";
  EXPECT_EQ(kernels::int8_isa_name(), expected);
  EXPECT_EQ(kernels::int8_path_available(1), std::string_view(expected) != "none");
}

TEST(QuantEmbed, DequantizesTheTokensRows) {
  std::mt19937 rng(9);
  const std::int64_t V = 40;
  const std::int64_t H = 64;
  const HostQuant h = make_affine(V, H, 4, 32, rng);
  Fixture f(3, H, V);
  auto table = f.backend.import_quantized(h.weight);
  ASSERT_TRUE(table.is_ok());
  const std::vector<std::int32_t> tokens{3, 0, 39};
  const std::vector<std::int32_t> positions{0, 1, 2};
  tensor::StepBatch batch;
  batch.tokens = tokens;
  batch.positions = positions;
  f.backend.begin_step(batch);
  std::vector<float> out(static_cast<std::size_t>(3 * H));
  std::vector<float> row(static_cast<std::size_t>(H));
  // The whole vocabulary, then the table as the slice of tokens [2, V + 2)
  // a tensor-parallel rank holds: token 0 is another rank's (zeros).
  for (const std::int64_t first : {std::int64_t{0}, std::int64_t{2}}) {
    f.backend.embed(*table, 2.0f, Tensor(out.data(), DType::kF32, {3, H}), first);
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      const std::int64_t local = tokens[t] - first;
      std::fill(row.begin(), row.end(), 0.0f);
      if (local >= 0 && local < V) {
        tensor::dequantize_rows(h.weight.w, h.weight.quant, local, local + 1, row.data());
        for (auto& v : row) v *= 2.0f;
      }
      for (std::int64_t c = 0; c < H; ++c) {
        EXPECT_EQ(out[t * H + static_cast<std::size_t>(c)], row[static_cast<std::size_t>(c)])
            << "first " << first << " token " << tokens[t];
      }
    }
  }
}

TEST(QuantCodecs, E4m3RoundTripsEveryCode) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(tensor::e4m3_to_f32(static_cast<std::uint8_t>(c))));
      continue;
    }
    const float v = tensor::e4m3_to_f32(static_cast<std::uint8_t>(c));
    EXPECT_EQ(tensor::f32_to_e4m3(v), c) << c;
  }
  EXPECT_EQ(tensor::e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(tensor::e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(tensor::e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(tensor::f32_to_e4m3(1000.0f), 0x7E);       // saturates
  EXPECT_EQ(tensor::f32_to_e4m3(1.0625f), 0x38);       // tie to even
  EXPECT_EQ(tensor::f32_to_e4m3(1.1875f), 0x3A);       // tie to even (upwards)
  EXPECT_EQ(tensor::f32_to_e4m3(-2.0f), 0x80 | 0x40);  // sign bit
}

TEST(QuantCodecs, AffineCodesAreLittleEndianBitStreams) {
  // README: for 4 bits the values 0..7 pack to the word 0x76543210.
  const std::uint8_t word[4] = {0x10, 0x32, 0x54, 0x76};
  for (int k = 0; k < 8; ++k) EXPECT_EQ(tensor::affine_code(word, 4, k), static_cast<unsigned>(k));
  // Any width: code k is bits [k·b, (k+1)·b), least significant first.
  std::mt19937 rng(3);
  for (int bits : {2, 3, 5, 6, 8}) {
    std::vector<std::uint32_t> codes(64);
    std::vector<std::uint8_t> bytes(64);
    for (auto& c : codes) c = rng() & ((1u << bits) - 1u);
    for (std::size_t k = 0; k < codes.size(); ++k) {
      for (int b = 0; b < bits; ++b) {
        const std::size_t bit = k * static_cast<std::size_t>(bits) + static_cast<std::size_t>(b);
        if ((codes[k] >> b) & 1u)
          bytes[bit / 8] = static_cast<std::uint8_t>(bytes[bit / 8] | (1u << (bit % 8)));
      }
    }
    for (std::size_t k = 0; k < codes.size(); ++k) {
      EXPECT_EQ(tensor::affine_code(bytes.data(), bits, static_cast<std::int64_t>(k)), codes[k])
          << bits << " bits, code " << k;
    }
  }
}

TEST(QuantCodecs, AffineQuantizerFollowsMlx) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  int negative = 0;
  int groups = 0;
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    const std::int64_t K = 128;
    const std::int64_t G = 32;
    std::vector<float> w(static_cast<std::size_t>(K));
    for (auto& v : w) v = dist(rng);
    std::vector<std::uint8_t> packed(
        static_cast<std::size_t>(tensor::packed_row_bytes(QuantFormat::kAffine, bits, K)));
    std::vector<std::uint16_t> s(K / G), b(K / G);
    tensor::quantize_affine_row(w.data(), K, bits, G, packed.data(), s.data(), b.data());
    for (std::int64_t g = 0; g < K / G; ++g) {
      ++groups;
      const float scale = core::bf16_to_f32(s[static_cast<std::size_t>(g)]);
      const float bias = core::bf16_to_f32(b[static_cast<std::size_t>(g)]);
      negative += scale < 0;
      const float levels = static_cast<float>((1 << bits) - 1);
      for (std::int64_t c = g * G; c < (g + 1) * G; ++c) {
        const auto q = static_cast<float>(tensor::affine_code(packed.data(), bits, c));
        // Half a step inside the range; at the far end at most one step,
        // because the scale is refitted so that the nearer edge sits on a
        // level (|edge| holds at least half the range, so the far end
        // overshoots by under one step and is clipped). Plus the bf16
        // rounding of scale and bias.
        const float bound = std::fabs(scale) * (1.0f + levels / 128.0f) + std::fabs(bias) / 128.0f;
        EXPECT_LE(std::fabs(scale * q + bias - w[static_cast<std::size_t>(c)]), bound)
            << bits << " bits, column " << c;
      }
    }
  }
  // mx.quantize makes the scale negative when the group's maximum is the
  // larger edge: both signs occur, and the kernels must not assume one.
  EXPECT_GT(negative, 0);
  EXPECT_LT(negative, groups);
}

}  // namespace
}  // namespace mlxs::backend::cpu
