#pragma once
// The last N durations of something the control plane does per request (the
// routing overhead: a request's arrival at the gateway to its hand-off to the
// chosen host's session), with quantiles for /metrics and the cluster bench.
// A ring, so memory stays fixed and the figures describe recent traffic.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/clock.h"

namespace mlxs::cluster {

class LatencyWindow {
 public:
  explicit LatencyWindow(std::size_t capacity);

  void record(core::Nanos d);
  // The q-quantile (0..1, nearest rank) of what the window holds; 0 when empty.
  core::Nanos quantile(double q) const;
  std::int64_t count() const;  // recorded since start
  core::Nanos total() const;   // their sum since start

 private:
  mutable std::mutex mutex_;
  std::vector<core::Nanos> ring_;
  std::size_t next_ = 0;
  std::size_t filled_ = 0;
  std::int64_t count_ = 0;
  core::Nanos total_ = 0;
};

}  // namespace mlxs::cluster
