#include "cluster/latency_window.h"

#include <algorithm>
#include <cmath>

namespace mlxs::cluster {

LatencyWindow::LatencyWindow(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {}

void LatencyWindow::record(core::Nanos d) {
  std::lock_guard lock(mutex_);
  ring_[next_] = d;
  next_ = (next_ + 1) % ring_.size();
  filled_ = std::min(filled_ + 1, ring_.size());
  ++count_;
  total_ += d;
}

core::Nanos LatencyWindow::quantile(double q) const {
  std::vector<core::Nanos> v;
  {
    std::lock_guard lock(mutex_);
    v.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(filled_));
  }
  if (v.empty()) return 0;
  const double clamped = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(clamped * static_cast<double>(v.size())));
  const std::size_t at = rank == 0 ? 0 : rank - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
  return v[at];
}

std::int64_t LatencyWindow::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

core::Nanos LatencyWindow::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace mlxs::cluster
