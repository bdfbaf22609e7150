#include "engine/arbiter.h"

#include <algorithm>

namespace mlxs::engine {

std::size_t choose_engine(std::span<const ArbiterCandidate> candidates) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < candidates.size(); ++i) {
    const auto& a = candidates[i];
    const auto& b = candidates[best];
    if (a.urgency.top != b.urgency.top) {
      if (a.urgency.top < b.urgency.top) best = i;
      continue;
    }
    if (a.urgency.oldest_wait != b.urgency.oldest_wait) {
      if (a.urgency.oldest_wait > b.urgency.oldest_wait) best = i;
      continue;
    }
    if (a.last_served < b.last_served) best = i;
  }
  return best;
}

void DeviceArbiter::acquire(int engine, Urgency urgency) {
  std::unique_lock lock(mutex_);
  if (static_cast<std::size_t>(engine) >= last_served_.size()) {
    last_served_.resize(static_cast<std::size_t>(engine) + 1, 0);
  }
  waiting_.push_back({engine, urgency, last_served_[static_cast<std::size_t>(engine)]});
  if (holder_ < 0 && granted_ < 0) grant_next();
  changed_.wait(lock, [&] { return granted_ == engine; });
  granted_ = -1;
  holder_ = engine;
}

void DeviceArbiter::release(int engine) {
  std::lock_guard lock(mutex_);
  if (holder_ != engine) return;
  holder_ = -1;
  grant_next();
}

void DeviceArbiter::grant_next() {
  if (waiting_.empty()) return;
  const std::size_t i = choose_engine(waiting_);
  granted_ = waiting_[i].engine;
  waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
  last_served_[static_cast<std::size_t>(granted_)] = ++grants_;
  changed_.notify_all();
}

std::uint64_t DeviceArbiter::grants() const {
  std::lock_guard lock(mutex_);
  return grants_;
}

}  // namespace mlxs::engine
