#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

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
      raw_(static_cast<std::size_t>(vocab)) {}

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

std::size_t Sampler::nucleus(std::span<const float> logits, float max_logit, double total,
                             float mass, std::size_t limit) {
  // Grow a partially sorted prefix until it holds `mass`: real distributions
  // reach it within a few hundred tokens, so this rarely sorts the vocabulary.
  const auto by_logit = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)];
    const float lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::size_t n = std::min<std::size_t>(64, limit);
  for (;;) {
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n),
                      order_.begin() + static_cast<std::ptrdiff_t>(limit), by_logit);
    double cum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      cum +=
          std::exp(static_cast<double>(logits[static_cast<std::size_t>(order_[i])]) - max_logit) /
          total;
      if (cum >= mass) return i + 1;
    }
    if (n == limit) return n;
    n = std::min(limit, n * 4);
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
    for (float l : logits) z += std::exp(static_cast<double>(l) - mx);
    raw_lse = mx + std::log(z);
    if (p.top_logprobs > 0) {
      const auto k = std::min<std::size_t>(static_cast<std::size_t>(p.top_logprobs), V);
      std::iota(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(V), 0);
      std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k),
                        order_.begin() + static_cast<std::ptrdiff_t>(V),
                        [&](std::int32_t a, std::int32_t b) {
                          const float la = logits[static_cast<std::size_t>(a)];
                          const float lb = logits[static_cast<std::size_t>(b)];
                          return la > lb || (la == lb && a < b);
                        });
      out.top_count = static_cast<int>(k);
      for (std::size_t i = 0; i < k; ++i) {
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

  const float inv_t = 1.0f / p.temperature;
  for (auto& l : logits) l *= inv_t;
  const float mx = max_of(logits);
  const auto by_logit = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)];
    const float lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };

  // Candidates: every token, or those above min_p, then the top k, then the
  // nucleus holding top_p of what is left.
  std::size_t n = 0;
  if (p.min_p > 0.0f) {
    const float floor = mx + std::log(p.min_p);
    for (std::size_t i = 0; i < V; ++i) {
      if (logits[i] >= floor) order_[n++] = static_cast<std::int32_t>(i);
    }
  } else {
    std::iota(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(V), 0);
    n = V;
  }
  if (p.top_k > 0 && static_cast<std::size_t>(p.top_k) < n) {
    const auto k = static_cast<std::size_t>(p.top_k);
    std::nth_element(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k - 1),
                     order_.begin() + static_cast<std::ptrdiff_t>(n), by_logit);
    n = k;
  }
  if (p.top_p < 1.0f) {
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      total += std::exp(static_cast<double>(logits[static_cast<std::size_t>(order_[i])]) - mx);
    }
    n = nucleus(logits, mx, total, p.top_p, n);
  } else {
    // A canonical order makes the draw independent of how candidates were found.
    std::sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    weights_[i] = std::exp(static_cast<double>(logits[static_cast<std::size_t>(order_[i])]) - mx);
    total += weights_[i];
  }
  const double u = rng.uniform_double() * total;
  double cum = 0;
  std::size_t pick = n - 1;
  for (std::size_t i = 0; i < n; ++i) {
    cum += weights_[i];
    if (u < cum) {
      pick = i;
      break;
    }
  }
  return finish(order_[pick]);
}

}  // namespace mlxs::engine
