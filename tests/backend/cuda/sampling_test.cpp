// The device sampler against the host's definitions (engine/sampling_cutoff.h)
// fed the same uniform numbers: same filters, same draw. Label: gpu.
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "backend/cuda/cuda_backend.h"
#include "core/rng.h"
#include "engine/sampling_cutoff.h"

namespace mlxs::backend {
namespace {

using tensor::Backend;
using tensor::DType;
using tensor::Tensor;

struct HostDraw {
  std::int32_t token = 0;
  engine::Cutoff cut;
  std::vector<float> logits;  // scaled
  std::vector<float> w;
};

// The host sampler's steps for one row, with the uniform number given.
HostDraw host_draw(std::vector<float> row, const Backend::RowDraw& d) {
  HostDraw h;
  const float mx = engine::scale_and_max(row, 1.0f / d.temperature);
  if (d.min_p > 0.0f) {
    h.cut = engine::Cutoff{mx + std::log(d.min_p), std::numeric_limits<std::int32_t>::max()};
  }
  std::vector<std::int32_t> heap;
  if (d.top_k > 0)
    h.cut = engine::top_k_cutoff(row, h.cut, static_cast<std::size_t>(d.top_k), heap);
  h.w.resize(row.size());
  const double total = engine::fill_weights(row, mx, h.cut, h.w);
  std::vector<std::int32_t> members(row.size());
  if (d.top_p < 1.0f) h.cut = engine::top_p_cutoff(row, h.w, mx, total, d.top_p, h.cut, members);
  h.token = engine::draw(row, h.w, h.cut, d.uniform);
  h.logits = std::move(row);
  return h;
}

// A backend planned only for finishing `rows` logit rows of `vocab` tokens.
std::unique_ptr<cuda::CudaBackend> backend_for_logits(int rows, std::int64_t vocab) {
  tensor::StepCapacity c;
  c.max_tokens = rows;
  c.max_seqs = rows;
  c.max_context = 16;
  c.max_logit_rows = rows;
  c.max_linear_in = 64;
  c.max_linear_out = vocab;
  c.max_heads = 1;
  c.max_head_dim = 64;
  auto gpu = cuda::CudaBackend::create(cuda::CudaOptions{});
  EXPECT_TRUE(gpu.is_ok()) << gpu.status().to_string();
  if (!gpu.is_ok() || !(*gpu)->plan_step(c).is_ok()) return nullptr;
  return std::move(gpu).value();
}

TEST(CudaSampling, DrawsWhatTheHostSamplerDraws) {
  const std::int64_t V = 32003;
  const int R = 12;
  auto gpu = backend_for_logits(R, V);
  ASSERT_TRUE(gpu);
  core::Xoshiro256 rng(17);

  const std::vector<Backend::RowDraw> kinds = {
      {0, 1.0f, 0, 1.0f, 0.0f, 0},  {0, 0.7f, 50, 1.0f, 0.0f, 0},   {0, 1.3f, 0, 0.9f, 0.0f, 0},
      {0, 1.0f, 0, 1.0f, 0.05f, 0}, {0, 0.8f, 200, 0.8f, 0.01f, 0}, {0, 0.5f, 7, 0.3f, 0.0f, 0},
  };
  int same = 0, total = 0;
  for (int trial = 0; trial < 8; ++trial) {
    // Peaked rows (as models give) and flat ones with many ties.
    std::vector<float> host(static_cast<std::size_t>(R * V));
    for (int r = 0; r < R; ++r) {
      for (std::int64_t i = 0; i < V; ++i) {
        float x = (rng.uniform() * 2.0f - 1.0f) * (r % 2 == 0 ? 12.0f : 3.0f);
        if (r % 3 == 0) x = std::round(x * 2.0f) / 2.0f;
        host[static_cast<std::size_t>(r * V + i)] = x;
      }
      host[static_cast<std::size_t>(r * V + 5)] = -std::numeric_limits<float>::infinity();
    }
    std::vector<Backend::RowDraw> draws;
    std::vector<std::uint8_t> full(static_cast<std::size_t>(R), 0);
    for (int r = 0; r < R; ++r) {
      Backend::RowDraw d = kinds[static_cast<std::size_t>((r + trial) % kinds.size())];
      d.row = r;
      d.uniform = rng.uniform_double();
      draws.push_back(d);
    }
    auto dev = gpu->allocate(host.size() * sizeof(float));
    ASSERT_TRUE(dev.is_ok());
    ASSERT_EQ(cudaMemcpy((*dev)->data(), host.data(), host.size() * sizeof(float),
                         cudaMemcpyHostToDevice),
              cudaSuccess);
    Tensor logits((*dev)->data(), DType::kF32, {R, V});
    logits.device = tensor::Device::kCuda;
    Backend::LogitsRequest req;
    req.full_rows = full;
    req.draws = draws;
    auto got = gpu->finish_logits(logits, req);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    for (int r = 0; r < R; ++r) {
      const auto& d = draws[static_cast<std::size_t>(r)];
      const auto first = host.begin() + static_cast<std::ptrdiff_t>(r * V);
      const HostDraw h = host_draw(std::vector<float>(first, first + V), d);
      const std::int32_t t = got->tokens[r];
      ASSERT_GE(t, 0);
      ASSERT_LT(t, V);
      // Always a token the host's filters keep; the same one unless the
      // number falls within rounding of a boundary.
      const auto ti = static_cast<std::size_t>(t);
      EXPECT_TRUE(h.w[ti] > 0.0f && h.cut.keeps(h.logits[ti], t))
          << "trial " << trial << " row " << r << " token " << t;
      ++total;
      same += t == h.token ? 1 : 0;
    }
  }
  EXPECT_GE(same, total - 2) << same << " of " << total << " draws identical";
}

TEST(CudaSampling, FollowsTheDistribution) {
  // Three tokens with probabilities 0.5 / 0.3 / 0.2; uniform numbers on a
  // grid must split accordingly, in id order.
  auto gpu = backend_for_logits(1, 3);
  ASSERT_TRUE(gpu);
  auto dev = gpu->allocate(3 * sizeof(float));
  ASSERT_TRUE(dev.is_ok());
  int counts[3] = {0, 0, 0};
  for (int k = 0; k < 100; ++k) {
    const std::vector<float> row = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    ASSERT_EQ(cudaMemcpy((*dev)->data(), row.data(), 3 * sizeof(float), cudaMemcpyHostToDevice),
              cudaSuccess);
    Tensor logits((*dev)->data(), DType::kF32, {1, 3});
    logits.device = tensor::Device::kCuda;
    const std::vector<std::uint8_t> full = {0};
    const std::vector<Backend::RowDraw> draws = {{0, 1.0f, 0, 1.0f, 0.0f, (k + 0.5) / 100.0}};
    Backend::LogitsRequest req;
    req.full_rows = full;
    req.draws = draws;
    auto got = gpu->finish_logits(logits, req);
    ASSERT_TRUE(got.is_ok());
    ++counts[got->tokens[0]];
  }
  EXPECT_EQ(counts[0], 50);
  EXPECT_EQ(counts[1], 30);
  EXPECT_EQ(counts[2], 20);
}

}  // namespace
}  // namespace mlxs::backend
