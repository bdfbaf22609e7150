#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/sampling_cutoff.h"
#include "tensor/logits.h"

namespace mlxs::engine {
namespace {

float max_of(std::span<const float> v) {
  float m = -std::numeric_limits<float>::infinity();
  for (float x : v) m = std::max(m, x);
  return m;
}

}  // namespace

Sampler::Sampler(std::int64_t vocab)
    : order_(static_cast<std::size_t>(vocab)),
      counts_(static_cast<std::size_t>(vocab), 0),
      weights_(static_cast<std::size_t>(vocab)),
      raw_(static_cast<std::size_t>(vocab)) {
  heap_.reserve(256);
}

void Sampler::apply_penalties(std::span<float> logits, const SamplingParams& p,
                              std::span<const std::int32_t> prompt,
                              std::span<const std::int32_t> output) {
  if (p.repetition_penalty != 1.0f) {
    // Each distinct token of prompt and output once (counts_ marks seen ones).
    auto penalise = [&](std::int32_t t) {
      auto& mark = counts_[static_cast<std::size_t>(t)];
      if (mark != 0) return;
      mark = 1;
      float& l = logits[static_cast<std::size_t>(t)];
      l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
    };
    for (auto t : prompt) penalise(t);
    for (auto t : output) penalise(t);
    for (auto t : prompt) counts_[static_cast<std::size_t>(t)] = 0;
    for (auto t : output) counts_[static_cast<std::size_t>(t)] = 0;
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    for (auto t : output) ++counts_[static_cast<std::size_t>(t)];
    for (auto t : output) {
      auto& c = counts_[static_cast<std::size_t>(t)];
      if (c == 0) continue;  // already applied
      logits[static_cast<std::size_t>(t)] -=
          p.presence_penalty + p.frequency_penalty * static_cast<float>(c);
      c = 0;
    }
  }
}

SampleOutput Sampler::sample(std::span<float> logits, const SamplingParams& p,
                             std::span<const std::int32_t> prompt,
                             std::span<const std::int32_t> output, core::Xoshiro256& rng) {
  SampleOutput out;
  const std::size_t V = logits.size();
  const bool want_logprobs = p.logprobs || p.top_logprobs > 0;
  const bool processed = !p.logit_bias.empty() || p.uses_penalties() || !p.greedy();
  double raw_lse = 0;
  if (want_logprobs) {
    // Raw log-softmax, before any processing; keep the raw row when the
    // processing below will change it.
    const float mx = max_of(logits);
    double z = 0;
    for (float l : logits) z += exp_nonpositive(l - mx);
    raw_lse = mx + std::log(z);
    if (p.top_logprobs > 0) {
      const auto k = std::min<std::size_t>(static_cast<std::size_t>(p.top_logprobs), V);
      const std::size_t n = best_k(logits, Cutoff{}, k, heap_, order_);
      out.top_count = static_cast<int>(n);
      for (std::size_t i = 0; i < n; ++i) {
        const auto t = order_[i];
        out.top[i] = {t, static_cast<float>(logits[static_cast<std::size_t>(t)] - raw_lse)};
      }
    }
    if (processed) std::copy(logits.begin(), logits.end(), raw_.begin());
  }
  auto finish = [&](std::int32_t token) {
    out.token = token;
    if (want_logprobs) {
      const float raw = processed ? raw_[static_cast<std::size_t>(token)]
                                  : logits[static_cast<std::size_t>(token)];
      out.logprob = static_cast<float>(raw - raw_lse);
    }
    return out;
  };

  for (const auto& [id, bias] : p.logit_bias) logits[static_cast<std::size_t>(id)] += bias;
  if (p.uses_penalties()) apply_penalties(logits, p, prompt, output);
  if (p.greedy()) return finish(tensor::first_argmax(logits));

  // Scaled by the temperature, then the filters tighten one cutoff (see
  // sampling_cutoff.h) and the draw walks what is kept in id order.
  const float inv_t = 1.0f / p.temperature;
  const float mx = scale_and_max(logits, inv_t);
  if (!std::isfinite(mx)) return finish(tensor::first_argmax(logits));
  Cutoff cut;
  if (p.min_p > 0.0f)
    cut = Cutoff{mx + std::log(p.min_p), std::numeric_limits<std::int32_t>::max()};
  if (p.top_k > 0) cut = top_k_cutoff(logits, cut, static_cast<std::size_t>(p.top_k), heap_);
  const std::span<float> w(weights_.data(), V);
  const double total = fill_weights(logits, mx, cut, w);
  if (p.top_p < 1.0f) cut = top_p_cutoff(logits, w, mx, total, p.top_p, cut, order_);
  return finish(draw(logits, w, cut, rng.uniform_double()));
}

}  // namespace mlxs::engine
