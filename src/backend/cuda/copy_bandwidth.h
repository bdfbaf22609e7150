#pragma once
// The bound a GPU decode benchmark compares with: device-to-device copy
// bandwidth, counting bytes read plus bytes written (../shared/DESIGN.md §5).

#include <cstddef>
#include <vector>

#include "core/status.h"

namespace mlxs::backend::cuda {

struct CopyBandwidth {
  double gbps_median = 0;  // 1e9 bytes (read + written) per second
  double gbps_best = 0;
  std::vector<double> samples;
};

core::Result<CopyBandwidth> measure_copy_bandwidth(int device, std::size_t bytes, int reps = 10);

}  // namespace mlxs::backend::cuda
