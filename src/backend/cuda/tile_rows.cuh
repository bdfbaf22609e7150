#pragma once
// Where a block and lane of the byte-per-weight GEMVs (FP8 codes,
// kernels_fp8.cu; 8-bit affine codes, kernels_quant8.cu) stand: a block per
// tile of 16 weight rows of one segment, lane (g, t) = (lane / 4, lane % 4)
// loading rows g and g + 8 of it (an m16n8k16 A fragment's rows).

#include <cuda_runtime.h>

namespace mlxs::backend::cuda::k {

struct TileRows {
  int seg;  // the block's segment; segs.count when the block is past the last tile
  int lane, warp, g, t;
  int r0, r1;   // the lane's two rows in the segment
  bool v0, v1;  // whether they exist
};

template <typename Segs>
__device__ __forceinline__ TileRows tile_rows(const Segs& segs) {
  TileRows o{};
  int tile = static_cast<int>(blockIdx.x);
  int s = 0;
  while (s < segs.count && tile >= (segs.seg[s].w.n + 15) / 16) {
    tile -= (segs.seg[s++].w.n + 15) / 16;
  }
  o.seg = s;
  if (s >= segs.count) return o;
  const int n = segs.seg[s].w.n;
  o.lane = static_cast<int>(threadIdx.x) & 31;
  o.warp = static_cast<int>(threadIdx.x) >> 5;
  o.g = o.lane >> 2;
  o.t = o.lane & 3;
  o.r0 = tile * 16 + o.g;
  o.r1 = o.r0 + 8;
  o.v0 = o.r0 < n;
  o.v1 = o.r1 < n;
  return o;
}

}  // namespace mlxs::backend::cuda::k
