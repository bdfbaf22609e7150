#include "cluster/routing.h"

#include <tuple>

namespace mlxs::cluster {

namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = kFnvOffset) {
  for (const char ch : bytes) {
    h ^= static_cast<unsigned char>(ch);
    h *= kFnvPrime;
  }
  return h;
}

}  // namespace

std::optional<RouteChoice> choose_worker(const std::vector<Candidate>& workers,
                                         const std::string& affinity_worker, Strategy strategy) {
  std::optional<RouteChoice> best;
  std::tuple<bool, std::size_t> best_key{true, 0};
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const Candidate& w = workers[i];
    if (!w.ready || !w.holds_model) continue;
    const bool full = w.in_flight >= w.capacity;
    if (strategy == Strategy::kSmart && !full && !affinity_worker.empty() &&
        w.id == affinity_worker) {
      return RouteChoice{i, true};
    }
    const std::tuple<bool, std::size_t> key{full, w.in_flight + w.others};
    if (!best || key < best_key) {
      best = RouteChoice{i, false};
      best_key = key;
    }
  }
  return best;
}

std::uint64_t prefix_key(const protocol::GenerateParams& params, std::size_t prefix_chars) {
  std::uint64_t h = 0;
  if (params.messages && !params.messages->is_null()) {
    const std::string text = params.messages->dump();
    h = fnv1a(std::string_view(text).substr(0, prefix_chars));
  } else if (!params.prompt.empty()) {
    h = fnv1a(std::string_view(params.prompt).substr(0, prefix_chars));
  } else if (!params.prompt_tokens.empty()) {
    h = kFnvOffset;
    const std::size_t n =
        std::min(params.prompt_tokens.size(), std::max<std::size_t>(1, prefix_chars / 4));
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t t = params.prompt_tokens[i];
      h = fnv1a(std::string_view(reinterpret_cast<const char*>(&t), sizeof t), h);
    }
  } else {
    return 0;
  }
  // The model is part of the key: one prompt on two models is two prefixes.
  h = fnv1a(params.model_id, h);
  return h == 0 ? 1 : h;
}

std::string AffinityTable::lookup(std::uint64_t key) const {
  const auto it = map_.find(key);
  return it == map_.end() ? std::string() : it->second;
}

void AffinityTable::record(std::uint64_t key, const std::string& worker) {
  if (key == 0) return;
  const auto [it, inserted] = map_.insert_or_assign(key, worker);
  (void)it;
  if (!inserted) return;
  order_.push_back(key);
  while (map_.size() > capacity_) {
    map_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace mlxs::cluster
