#pragma once
// The row segments of a vision tower's attention (an image, or a window of
// one), as every segment-attention kernel reads them.

#include <cstdint>

namespace mlxs::backend::cuda::k {

// The segment [lo, hi) holding row t: a binary search over the count + 1
// ascending bounds.
__device__ inline void segment_bounds(const std::int32_t* segments, int count, int t, int& lo,
                                      int& hi) {
  int a = 0;
  int b = count;  // segments[a] <= t < segments[b]
  while (b - a > 1) {
    const int mid = (a + b) / 2;
    if (segments[mid] <= t) {
      a = mid;
    } else {
      b = mid;
    }
  }
  lo = segments[a];
  hi = segments[a + 1];
}

}  // namespace mlxs::backend::cuda::k
