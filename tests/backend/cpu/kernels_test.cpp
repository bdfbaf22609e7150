#include "backend/cpu/kernels.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "core/half.h"
#include "core/rng.h"

namespace mlxs::backend::cpu::kernels {
namespace {

std::vector<float> random_floats(std::size_t n, core::Xoshiro256& rng, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = (rng.uniform() * 2.0f - 1.0f) * scale;
  return v;
}

// Stores f32 values as `type` and returns the bytes plus the values actually stored.
std::vector<std::uint16_t> to_half(const std::vector<float>& v, DType type,
                                   std::vector<float>* exact) {
  std::vector<std::uint16_t> out(v.size());
  exact->resize(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    out[i] = type == DType::kBF16 ? core::f32_to_bf16(v[i]) : core::f32_to_f16(v[i]);
    (*exact)[i] = type == DType::kBF16 ? core::bf16_to_f32(out[i]) : core::f16_to_f32(out[i]);
  }
  return out;
}

// Every test runs once per instruction set compiled into the kernels that this
// CPU can execute (AVX-512, AVX2, the portable fallback), so each dispatch
// target is checked, not only the best one.
std::vector<std::int64_t> targets() {
  return hwy::SupportedAndGeneratedTargets();
}

std::string target_label(std::int64_t t) {
  std::string name = hwy::TargetName(t);
  for (auto& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class PerTarget : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

struct LinearCase {
  std::int64_t M, K, n0, n1, N;
};

using LinearTest = PerTarget;

TEST_P(LinearTest, MatchesDoublePrecisionReference) {
  for (const DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(std::string(tensor::dtype_name(type)) + " on " + target_name());
    core::Xoshiro256 rng(42);
    // Shapes cover: one row, tiles with remainders, K tails, K over one block
    // chunk (1024) and offset weight ranges.
    const std::vector<LinearCase> cases = {
        {1, 64, 0, 8, 8},     {1, 70, 3, 17, 20},   {3, 96, 0, 13, 13},   {5, 2080, 1, 11, 12},
        {9, 31, 0, 7, 7},     {4, 2048, 0, 16, 16}, {66, 128, 4, 24, 24}, {1, 16, 0, 5, 5},
        {17, 1056, 2, 9, 10}, {1, 2080, 0, 9, 9},   {1, 4100, 1, 10, 11}, {1, 3072, 0, 3, 3},
    };
    for (const auto& c : cases) {
      auto x = random_floats(static_cast<std::size_t>(c.M * c.K), rng);
      auto wf = random_floats(static_cast<std::size_t>(c.N * c.K), rng, 0.5f);
      auto bias = random_floats(static_cast<std::size_t>(c.N), rng);
      std::vector<float> w_exact = wf;
      std::vector<std::uint16_t> w16;
      const void* wptr = wf.data();
      if (type != DType::kF32) {
        w16 = to_half(wf, type, &w_exact);
        wptr = w16.data();
      }
      std::vector<float> prep(x.size());
      prepare_linear_input(type, x.data(), c.M, c.K, prep.data());
      const std::int64_t ldy = c.N + 3;
      std::vector<float> y(static_cast<std::size_t>(c.M * ldy), -999.0f);
      linear_rows(type, prep.data(), c.M, c.K, wptr, c.n0, c.n1, bias.data(), y.data(), ldy);
      for (std::int64_t m = 0; m < c.M; ++m) {
        for (std::int64_t n = 0; n < c.N; ++n) {
          const float got = y[static_cast<std::size_t>(m * ldy + n)];
          if (n < c.n0 || n >= c.n1) {
            EXPECT_EQ(got, -999.0f) << "wrote outside its range";
            continue;
          }
          double want = bias[static_cast<std::size_t>(n)];
          for (std::int64_t k = 0; k < c.K; ++k) {
            want += static_cast<double>(x[static_cast<std::size_t>(m * c.K + k)]) *
                    w_exact[static_cast<std::size_t>(n * c.K + k)];
          }
          EXPECT_NEAR(got, want, 1e-4 * std::sqrt(static_cast<double>(c.K)))
              << "M=" << c.M << " K=" << c.K << " m=" << m << " n=" << n;
        }
      }
    }
  }
}

using ElementwiseTest = PerTarget;

TEST_P(ElementwiseTest, MatchScalarFormulas) {
  core::Xoshiro256 rng(3);
  for (std::int64_t n : {1, 7, 16, 33, 130}) {
    auto a = random_floats(static_cast<std::size_t>(n), rng, 4.0f);
    auto b = random_floats(static_cast<std::size_t>(n), rng, 4.0f);
    double d = 0;
    for (std::int64_t i = 0; i < n; ++i)
      d += static_cast<double>(a[static_cast<std::size_t>(i)]) * b[static_cast<std::size_t>(i)];
    EXPECT_NEAR(dot(a.data(), b.data(), n), d, 1e-4);

    std::vector<float> out(static_cast<std::size_t>(n));
    silu_mul(a.data(), b.data(), out.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
      const double g = a[static_cast<std::size_t>(i)];
      EXPECT_NEAR(out[static_cast<std::size_t>(i)],
                  g / (1 + std::exp(-g)) * b[static_cast<std::size_t>(i)], 1e-5);
    }
    gelu_tanh_mul(a.data(), b.data(), out.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
      const double g = a[static_cast<std::size_t>(i)];
      const double gelu =
          0.5 * g * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g)));
      EXPECT_NEAR(out[static_cast<std::size_t>(i)], gelu * b[static_cast<std::size_t>(i)], 1e-5);
    }
    std::vector<float> w = random_floats(static_cast<std::size_t>(n), rng);
    rms_norm(a.data(), w.data(), 1e-6f, 1.0f, out.data(), n);
    double ss = 0;
    for (float v : a) ss += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-6);
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(out[static_cast<std::size_t>(i)],
                  a[static_cast<std::size_t>(i)] * inv * (1.0 + w[static_cast<std::size_t>(i)]),
                  1e-5);
    }
    auto s = a;
    const float mx = max_of(s.data(), n);
    const float sum = exp_sub_sum(s.data(), mx, n);
    double want_sum = 0;
    for (float v : a) want_sum += std::exp(static_cast<double>(v) - mx);
    EXPECT_NEAR(sum, want_sum, 1e-4 * want_sum);
    auto c = a;
    softcap(c.data(), 2.0f, n);
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(c[static_cast<std::size_t>(i)],
                  2.0 * std::tanh(a[static_cast<std::size_t>(i)] / 2.0), 1e-5);
    }
    std::vector<float> big(static_cast<std::size_t>(n) * 40 + 3, 0.25f);
    EXPECT_FLOAT_EQ(stream_sum(big.data(), static_cast<std::int64_t>(big.size())),
                    0.25f * static_cast<float>(big.size()));
  }
}

TEST_P(ElementwiseTest, SiluIsFiniteForExtremeInputs) {
  std::vector<float> g = {-1000.0f, -100.0f, 100.0f, 1000.0f};
  std::vector<float> u(4, 1.0f), out(4);
  silu_mul(g.data(), u.data(), out.data(), 4);
  for (float v : out) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(out[3], 1000.0f, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Targets, LinearTest, ::testing::ValuesIn(targets()),
                         [](const auto& p) { return target_label(p.param); });
INSTANTIATE_TEST_SUITE_P(Targets, ElementwiseTest, ::testing::ValuesIn(targets()),
                         [](const auto& p) { return target_label(p.param); });

TEST(Kernels, SeveralTargetsAreCompiledIn) {
  // AVX-512, AVX2 and the fallback on x86; at least NEON + fallback on Arm.
  EXPECT_GE(targets().size(), 2u);
}

}  // namespace
}  // namespace mlxs::backend::cpu::kernels
