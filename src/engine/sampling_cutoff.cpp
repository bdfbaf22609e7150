#include "engine/sampling_cutoff.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace mlxs::engine {
namespace {

// True when token a comes before token b in the order.
bool before(std::span<const float> l, std::int32_t a, std::int32_t b) {
  const float la = l[static_cast<std::size_t>(a)];
  const float lb = l[static_cast<std::size_t>(b)];
  return la > lb || (la == lb && a < b);
}

// Nucleus histogram: bins of 1/16 nat below the maximum, the last one open.
constexpr int kBinsPerNat = 16;
constexpr int kBins = kBinsPerNat * 48;

// Loops keep kLanes float partial sums (they vectorize) and fold them into
// a double every kFold steps, so long rows lose no precision.
constexpr std::size_t kLanes = 16;
constexpr std::size_t kFold = 64;
constexpr std::size_t kDrawBlock = 1024;
constexpr std::size_t kMaxDrawBlocks = 512;  // rows up to 512 Ki tokens

double fold(std::array<float, kLanes>& acc) {
  double s = 0;
  for (float& a : acc) {
    s += a;
    a = 0.0f;
  }
  return s;
}

int bin_of(float max_logit, float logit) {
  const float d = (max_logit - logit) * static_cast<float>(kBinsPerNat);
  return d < static_cast<float>(kBins - 1) ? static_cast<int>(d) : kBins - 1;
}

}  // namespace

namespace {

// Leaves in `heap` the (at most) k best kept tokens, best first.
void select_best(std::span<const float> logits, Cutoff current, std::size_t k,
                 std::vector<std::int32_t>& heap) {
  // While filling, the heap's top is the worst of the best k so far; ids
  // rise, so a later equal logit never beats one already held.
  heap.clear();
  if (k == 0) return;
  const auto worse_first = [&](std::int32_t a, std::int32_t b) { return before(logits, a, b); };
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const auto id = static_cast<std::int32_t>(i);
    if (!current.keeps(logits[i], id)) continue;
    if (heap.size() < k) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end(), worse_first);
    } else if (logits[i] > logits[static_cast<std::size_t>(heap.front())]) {
      std::pop_heap(heap.begin(), heap.end(), worse_first);
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end(), worse_first);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse_first);
}

}  // namespace

std::size_t best_k(std::span<const float> logits, Cutoff current, std::size_t k,
                   std::vector<std::int32_t>& heap, std::span<std::int32_t> out) {
  select_best(logits, current, k, heap);
  const std::size_t n = std::min(heap.size(), out.size());
  std::copy_n(heap.begin(), n, out.begin());
  return n;
}

Cutoff top_k_cutoff(std::span<const float> logits, Cutoff current, std::size_t k,
                    std::vector<std::int32_t>& heap) {
  select_best(logits, current, k, heap);
  if (k == 0 || heap.size() < k) return current;
  const std::int32_t last = heap.back();
  return Cutoff{logits[static_cast<std::size_t>(last)], last};
}

float scale_and_max(std::span<float> logits, float scale) {
  std::array<float, kLanes> m;
  m.fill(-std::numeric_limits<float>::infinity());
  const std::size_t n = logits.size();
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (std::size_t j = 0; j < kLanes; ++j) {
      const float l = logits[i + j] * scale;
      logits[i + j] = l;
      m[j] = l > m[j] ? l : m[j];
    }
  }
  for (; i < n; ++i) {
    logits[i] *= scale;
    m[0] = logits[i] > m[0] ? logits[i] : m[0];
  }
  float best = m[0];
  for (float x : m) best = x > best ? x : best;
  return best;
}

double fill_weights(std::span<const float> logits, float max_logit, Cutoff current,
                    std::span<float> w) {
  // Lanes of float partial sums, folded into a double every block.
  const std::size_t n = logits.size();
  double total = 0;
  std::array<float, kLanes> acc{};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (std::size_t j = 0; j < kLanes; ++j) {
      const float l = logits[i + j];
      const float e = exp_nonpositive(l - max_logit);
      const float v = current.keeps(l, static_cast<std::int32_t>(i + j)) ? e : 0.0f;
      w[i + j] = v;
      acc[j] += v;
    }
    if ((i / kLanes) % kFold == kFold - 1) total += fold(acc);
  }
  total += fold(acc);
  for (; i < n; ++i) {
    const float e = exp_nonpositive(logits[i] - max_logit);
    w[i] = current.keeps(logits[i], static_cast<std::int32_t>(i)) ? e : 0.0f;
    total += w[i];
  }
  return total;
}

Cutoff top_p_cutoff(std::span<const float> logits, std::span<const float> w, float max_logit,
                    double total, float mass, Cutoff current, std::span<std::int32_t> members) {
  if (mass >= 1.0f || total <= 0) return current;
  const double target = static_cast<double>(mass) * total;
  // Mass per bin, then the bin where the running sum from the top reaches
  // the target; only that bin's tokens need ordering.
  std::array<double, kBins> bins{};
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (w[i] > 0.0f) bins[static_cast<std::size_t>(bin_of(max_logit, logits[i]))] += w[i];
  }
  double above = 0;
  int cross = kBins - 1;
  for (int b = 0; b < kBins; ++b) {
    if (above + bins[static_cast<std::size_t>(b)] >= target) {
      cross = b;
      break;
    }
    above += bins[static_cast<std::size_t>(b)];
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (w[i] > 0.0f && bin_of(max_logit, logits[i]) == cross) {
      members[n++] = static_cast<std::int32_t>(i);
    }
  }
  if (n == 0) return current;
  const auto first = members.begin();
  std::sort(first, first + static_cast<std::ptrdiff_t>(n),
            [&](std::int32_t a, std::int32_t b) { return before(logits, a, b); });
  double cum = above;
  for (std::size_t j = 0; j < n; ++j) {
    const auto id = members[j];
    cum += w[static_cast<std::size_t>(id)];
    if (cum >= target) return Cutoff{logits[static_cast<std::size_t>(id)], id};
  }
  // Rounding left the target just out of reach: the whole bin is kept.
  const auto id = members[n - 1];
  return Cutoff{logits[static_cast<std::size_t>(id)], id};
}

std::int32_t draw(std::span<const float> logits, std::span<const float> w, Cutoff current,
                  double u) {
  // Sums per block of kDrawBlock tokens in one pass, then the block where the
  // running sum passes the goal, then that block token by token.
  const std::size_t n = logits.size();
  const std::size_t blocks = (n + kDrawBlock - 1) / kDrawBlock;
  double total = 0;
  std::int32_t last = -1;
  std::array<double, kMaxDrawBlocks> sums{};
  const bool blocked = blocks <= kMaxDrawBlocks;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t end = std::min(n, (b + 1) * kDrawBlock);
    std::array<float, kLanes> acc{};
    std::size_t i = b * kDrawBlock;
    for (; i + kLanes <= end; i += kLanes) {
      for (std::size_t j = 0; j < kLanes; ++j) {
        const bool kept = current.keeps(logits[i + j], static_cast<std::int32_t>(i + j));
        acc[j] += kept ? w[i + j] : 0.0f;
      }
    }
    double sum = fold(acc);
    for (; i < end; ++i) {
      if (current.keeps(logits[i], static_cast<std::int32_t>(i))) sum += w[i];
    }
    if (blocked) sums[b] = sum;
    total += sum;
  }
  for (std::size_t i = n; i-- > 0;) {
    if (w[i] > 0.0f && current.keeps(logits[i], static_cast<std::int32_t>(i))) {
      last = static_cast<std::int32_t>(i);
      break;
    }
  }
  if (last < 0) return 0;
  const double goal = u * total;
  double cum = 0;
  std::size_t start = 0;
  if (blocked) {
    std::size_t b = 0;
    while (b + 1 < blocks && cum + sums[b] <= goal) cum += sums[b++];
    start = b * kDrawBlock;
  }
  for (std::size_t i = start; i < n; ++i) {
    if (w[i] > 0.0f && current.keeps(logits[i], static_cast<std::int32_t>(i))) {
      cum += w[i];
      if (goal < cum) return static_cast<std::int32_t>(i);
    }
  }
  return last;
}

}  // namespace mlxs::engine
