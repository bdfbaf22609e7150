#include "engine/sampler.h"

#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "tensor/logits.h"

namespace mlxs::engine {
namespace {

std::vector<float> logits_of(std::initializer_list<float> v) {
  return v;
}

SampleOutput draw(Sampler& s, std::vector<float> logits, const SamplingParams& p,
                  core::Xoshiro256& rng, std::vector<std::int32_t> prompt = {},
                  std::vector<std::int32_t> output = {}) {
  return s.sample(logits, p, prompt, output, rng);
}

TEST(Sampler, GreedyIsArgmaxAfterBiasAndPenalties) {
  Sampler s(4);
  core::Xoshiro256 rng(1);
  SamplingParams p;
  p.temperature = 0;
  EXPECT_EQ(draw(s, logits_of({1, 3, 2, 0}), p, rng).token, 1);
  p.logit_bias = {{2, 5.0f}};
  EXPECT_EQ(draw(s, logits_of({1, 3, 2, 0}), p, rng).token, 2);
  p.logit_bias.clear();
  p.repetition_penalty = 2.0f;  // 3 / 2 = 1.5 < 2
  EXPECT_EQ(draw(s, logits_of({1, 3, 2, 0}), p, rng, {1}).token, 2);
  p.repetition_penalty = 1.0f;
  p.frequency_penalty = 0.6f;  // 3 - 2 * 0.6 = 1.8 < 2
  EXPECT_EQ(draw(s, logits_of({1, 3, 2, 0}), p, rng, {}, {1, 1}).token, 2);
  p.frequency_penalty = 0;
  p.presence_penalty = 1.5f;  // 3 - 1.5 < 2
  EXPECT_EQ(draw(s, logits_of({1, 3, 2, 0}), p, rng, {}, {1}).token, 2);
}

TEST(Sampler, TemperatureSamplingFollowsTheSoftmax) {
  Sampler s(3);
  core::Xoshiro256 rng(7);
  SamplingParams p;
  p.temperature = 1.0f;
  const std::vector<float> base = {0.0f, std::log(2.0f), std::log(7.0f)};  // probs 0.1, 0.2, 0.7
  std::map<int, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[draw(s, base, p, rng).token];
  EXPECT_NEAR(counts[0] / double(n), 0.1, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.2, 0.015);
  EXPECT_NEAR(counts[2] / double(n), 0.7, 0.015);
}

TEST(Sampler, TopKTopPAndMinPRestrictTheSupport) {
  Sampler s(6);
  core::Xoshiro256 rng(3);
  const std::vector<float> base = {5.0f, 4.9f, 4.8f, 1.0f, 0.5f, 0.0f};
  SamplingParams p;
  p.top_k = 2;
  for (int i = 0; i < 500; ++i) EXPECT_LT(draw(s, base, p, rng).token, 2);
  p.top_k = 0;
  p.top_p = 0.5f;  // the top two alone hold > 50%
  for (int i = 0; i < 500; ++i) EXPECT_LT(draw(s, base, p, rng).token, 2);
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // keeps tokens within log(0.5) of the best: 0, 1, 2
  for (int i = 0; i < 500; ++i) EXPECT_LT(draw(s, base, p, rng).token, 3);
}

TEST(Sampler, SeededDrawsRepeat) {
  Sampler a(50), b(50);
  std::vector<float> base(50);
  for (int i = 0; i < 50; ++i) base[static_cast<std::size_t>(i)] = std::sin(static_cast<float>(i));
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  core::Xoshiro256 r1(99), r2(99);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(draw(a, base, p, r1).token, draw(b, base, p, r2).token);
}

TEST(Sampler, LogprobsAreRawLogSoftmax) {
  Sampler s(3);
  core::Xoshiro256 rng(1);
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = true;
  p.top_logprobs = 2;
  p.logit_bias = {{0, 10.0f}};  // changes the choice, not the reported logprobs
  const auto out = draw(s, logits_of({1.0f, 2.0f, 3.0f}), p, rng);
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_EQ(out.token, 0);
  EXPECT_NEAR(out.logprob, 1.0 - lse, 1e-5);
  ASSERT_EQ(out.top_count, 2);
  EXPECT_EQ(out.top[0].token, 2);
  EXPECT_NEAR(out.top[0].logprob, 3.0 - lse, 1e-5);
  EXPECT_EQ(out.top[1].token, 1);
}

TEST(SamplingParams, ValidationNamesTheField) {
  SamplingParams p;
  p.top_p = 1.5f;
  auto st = validate(p, 100);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), core::ErrorCode::kInvalidParams);
  EXPECT_NE(st.message().find("top_p"), std::string::npos);
  p = {};
  p.temperature = NAN;
  EXPECT_FALSE(validate(p, 100).is_ok());
  p = {};
  p.logit_bias = {{100, 1.0f}};
  EXPECT_FALSE(validate(p, 100).is_ok());
  StopParams stop;
  stop.max_tokens = 0;
  EXPECT_FALSE(validate(stop, 100).is_ok());
  stop.max_tokens = 5;
  stop.min_tokens = 6;
  EXPECT_FALSE(validate(stop, 100).is_ok());
  stop.min_tokens = 0;
  stop.stop = {""};
  EXPECT_FALSE(validate(stop, 100).is_ok());
}

TEST(Sampler, AllowedMaskLeavesOnlyAllowedTokens) {
  Sampler sampler(70);
  std::vector<float> logits(70, 0.0f);
  logits[3] = 50.0f;  // the model's favourite, not allowed
  std::vector<std::uint32_t> allowed(3, 0u);
  allowed[1] |= 1u << 1;  // token 33
  allowed[2] |= 1u << 4;  // token 68
  EXPECT_EQ(tensor::apply_allowed_mask(logits, allowed), 2u);
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (i != 33 && i != 68) {
      EXPECT_TRUE(std::isinf(logits[i]) && logits[i] < 0) << i;
    }
  }
  SamplingParams p;
  p.temperature = 1.0f;
  core::Xoshiro256 rng(5);
  for (int k = 0; k < 50; ++k) {
    std::vector<float> row = logits;
    const std::int32_t t = sampler.sample(row, p, {}, {}, rng).token;
    EXPECT_TRUE(t == 33 || t == 68) << t;
  }
  // Words past the end of a short mask allow nothing.
  std::vector<float> row(70, 1.0f);
  EXPECT_EQ(tensor::apply_allowed_mask(row, std::span<const std::uint32_t>(allowed).first(1)), 0u);
}

}  // namespace
}  // namespace mlxs::engine
