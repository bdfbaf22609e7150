// The cutoff filters against brute force over the whole order (sort every
// token by logit, then id), on rows with many ties and random earlier cuts.
#include "engine/sampling_cutoff.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include "core/rng.h"

namespace mlxs::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_row(core::Xoshiro256& rng, std::size_t n, bool ties) {
  std::vector<float> row(n);
  for (auto& x : row) {
    x = (rng.uniform() * 2.0f - 1.0f) * 6.0f;
    if (ties) x = std::round(x * 4.0f) / 4.0f;  // ~50 distinct values
  }
  row[n / 3] = -kInf;  // masked tokens are never candidates
  return row;
}

std::vector<std::int32_t> by_order(const std::vector<float>& row, Cutoff keep) {
  std::vector<std::int32_t> ids;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (keep.keeps(row[i], static_cast<std::int32_t>(i)))
      ids.push_back(static_cast<std::int32_t>(i));
  }
  std::stable_sort(ids.begin(), ids.end(), [&](std::int32_t a, std::int32_t b) {
    return row[static_cast<std::size_t>(a)] > row[static_cast<std::size_t>(b)];
  });
  return ids;
}

bool same(Cutoff a, Cutoff b) {
  return a.value == b.value && a.index == b.index;
}

TEST(SamplingCutoff, ExpMatchesTheLibraryOverItsRange) {
  for (float x = -86.0f; x <= 0.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    EXPECT_NEAR(exp_nonpositive(x) / want, 1.0, 1e-6) << x;
  }
  EXPECT_EQ(exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(exp_nonpositive(-100.0f), 0.0f);
  EXPECT_EQ(exp_nonpositive(-kInf), 0.0f);
  EXPECT_EQ(exp_nonpositive(NAN), 0.0f);
}

TEST(SamplingCutoff, TopKIsTheKthTokenOfTheOrder) {
  core::Xoshiro256 rng(3);
  std::vector<std::int32_t> heap;
  for (int trial = 0; trial < 60; ++trial) {
    const auto row = random_row(rng, 300 + static_cast<std::size_t>(trial) * 7, trial % 2 == 0);
    Cutoff start;
    if (trial % 3 == 0) start = Cutoff{-2.0f, std::numeric_limits<std::int32_t>::max()};
    const auto order = by_order(row, start);
    for (std::size_t k : {1u, 2u, 17u, 64u, 299u, 5000u}) {
      const Cutoff got = top_k_cutoff(row, start, k, heap);
      const Cutoff want = k >= order.size()
                              ? start
                              : Cutoff{row[static_cast<std::size_t>(order[k - 1])], order[k - 1]};
      EXPECT_TRUE(same(got, want)) << "trial " << trial << " k " << k;
      std::vector<std::int32_t> best(20);
      const std::size_t n = best_k(row, start, std::min<std::size_t>(k, 20), heap, best);
      ASSERT_EQ(n, std::min({k, std::size_t{20}, order.size()}));
      for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(best[i], order[i]);
    }
  }
}

TEST(SamplingCutoff, TopPIsTheShortestPrefixReachingTheMass) {
  core::Xoshiro256 rng(5);
  for (int trial = 0; trial < 60; ++trial) {
    const auto row = random_row(rng, 500 + static_cast<std::size_t>(trial) * 13, trial % 2 == 0);
    const float mx = *std::max_element(row.begin(), row.end());
    Cutoff start;
    if (trial % 3 == 0) start = Cutoff{mx - 5.0f, std::numeric_limits<std::int32_t>::max()};
    std::vector<float> w(row.size());
    const double total = fill_weights(row, mx, start, w);
    const auto order = by_order(row, start);
    std::vector<std::int32_t> members(row.size());
    for (float mass : {0.05f, 0.3f, 0.9f, 0.999f}) {
      const Cutoff got = top_p_cutoff(row, w, mx, total, mass, start, members);
      double cum = 0;
      Cutoff want = start;
      for (auto id : order) {
        cum += w[static_cast<std::size_t>(id)];
        if (cum >= static_cast<double>(mass) * total) {
          want = Cutoff{row[static_cast<std::size_t>(id)], id};
          break;
        }
      }
      EXPECT_TRUE(same(got, want)) << "trial " << trial << " mass " << mass;
    }
  }
}

TEST(SamplingCutoff, DrawPicksInIdOrderByWeight) {
  const std::vector<float> row = {1.0f, -kInf, 3.0f, 2.0f, 3.0f};
  const float mx = 3.0f;
  std::vector<float> w(row.size());
  const Cutoff all;
  const double total = fill_weights(row, mx, all, w);
  EXPECT_EQ(w[1], 0.0f);
  // Kept in id order: 0, 2, 3, 4.
  EXPECT_EQ(draw(row, w, all, 0.0), 0);
  EXPECT_EQ(draw(row, w, all, (w[0] + 0.5 * w[2]) / total), 2);
  EXPECT_EQ(draw(row, w, all, 0.999999), 4);
  // A cut after the first 3.0 (id 2) keeps only ids 2 and... nothing else.
  const Cutoff top1{3.0f, 2};
  EXPECT_EQ(draw(row, w, top1, 0.0), 2);
  EXPECT_EQ(draw(row, w, top1, 0.999), 2);
  // Nothing finite: token 0.
  const std::vector<float> none = {-kInf, -kInf};
  std::vector<float> w0(2);
  EXPECT_EQ(fill_weights(none, 0.0f, all, w0), 0.0);
  EXPECT_EQ(draw(none, w0, all, 0.5), 0);
}

}  // namespace
}  // namespace mlxs::engine
