#pragma once
// Streaming-read bandwidth of this machine, measured the way the bound of a
// decode benchmark needs it: pinned threads, each first-touching and then
// summing its own slice of a large buffer with many independent vector
// accumulators (so the adder is never the limit).

#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlxs::bench {

struct BandwidthResult {
  int threads = 1;
  std::size_t bytes = 0;
  double gbps_median = 0;  // 1e9 bytes per second
  double gbps_best = 0;
  std::vector<double> samples;
  nlohmann::json to_json() const;
};

// `bytes` is the whole buffer, split over `threads`; `reps` timed passes after
// one warm pass.
BandwidthResult probe_read_bandwidth(int threads, std::size_t bytes, int reps = 5);

}  // namespace mlxs::bench
