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

// Owns the probe buffer (allocated and first-touched once, by the threads
// that will read it) so that a benchmark can probe before and after every
// repeat cheaply.
class BandwidthProbe {
 public:
  BandwidthProbe(int threads, std::size_t bytes);
  ~BandwidthProbe();
  BandwidthProbe(const BandwidthProbe&) = delete;
  BandwidthProbe& operator=(const BandwidthProbe&) = delete;

  // One untimed pass, then `reps` timed passes.
  BandwidthResult measure(int reps = 5);

 private:
  int threads_;
  std::size_t per_thread_;
  std::vector<float*> slices_;
};

}  // namespace mlxs::bench
