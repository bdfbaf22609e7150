// The 4- and 8-bit GEMV of 1-4 input rows on the tensor cores (groups of
// 64 or 128): codes go from their 16-byte loads straight into mma.sync A
// fragments, with no per-weight arithmetic but the masks (4-bit) or byte
// permutes (8-bit) that make them f16.
//
// Why: the CUDA-core path (qgemv4_kernel) spends about two instructions
// per weight and input row (per pair: a mask, an HFMA2 to undo the magic
// offset and an HFMA2 per product). Here a pair costs one LOP3 (plus a
// shift per 8 codes) and 1/128 of an mma for all the input rows; the
// offsets are taken out per group from x.
//
// Layout. A warp owns a tile of 16 weight rows and a contiguous slice of K
// in stages of SP spans of 128 columns. In span s of a stage, lane
// (g = lane / 4, t = lane % 4) loads 16 bytes (32 codes) of rows g and
// g + 8 at columns 128s + 32t (32 bytes for 8-bit codes). A 4-bit word
// (8 codes) gives four half2, as (1024 + c0, 1024 + c4), (64 + c1, 64 + c5)
// and the same of the word shifted by 8 bits: the A registers of two
// m16n8k16 steps, taking the k slots as a permutation of the columns (x is
// staged in the same order). An 8-bit word (4 codes) gives (1024 + c0,
// 1024 + c1), (1024 + c2, 1024 + c3) by two byte permutes: one step.
// An mma sums over the quad's four lanes; the B operand's 8 columns keep
// the stage's groups and the input rows apart: a stage has G = SP · Q
// groups (Q = 128 / group per span), column n is input row n / G and group
// n % G, and lane (n, t) gives that row's x only in the steps of the
// group's span, where its 32 columns fall in the group. SP is the most
// spans (up to 4) with M · G <= 8. After the stage's steps
// D[row][n] = Σ (offset + c)·x over one group and input row, and
//   y += scale · (D − OFF) + bias · XS,
// with OFF = Σ offset·x (over x rounded to f16, as the mma saw it) and
// XS = Σ x per group and input row, staged beside x. Every lane's D
// columns (2t, 2t + 1) are two groups of one input row (G is even), so the
// epilogue is one pair of groups per lane and stage. Products are exact and
// sums f32.
//
// Codes and the lane's scale and bias words stream through a per-warp
// cp.async ring (each lane reads back only what it copied: no barrier).
// Each warp stages the x of its own K slice (the same for every tile); the
// block's eight warps split K (or, where K has fewer than eight stages,
// groups of them take tiles of their own) and meet in shared memory once
// per tile. The grid is what fits at once, evened out over the tiles,
// striding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/mma_util.cuh"
#include "backend/cuda/quant_param.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 8;
constexpr int kTile = 16;    // weight rows per warp tile
constexpr int kSpan = 128;   // columns of one quad pass: 4 lanes x 32 codes
constexpr int kKStep = 512;  // K is a multiple of this (every stage size divides it)
constexpr int kStages = 2;   // stages a lane has in flight (cp.async ring)
constexpr int kMaxRows = 4;  // input rows

struct MmaSegments {
  QSegment seg[kQgemvMaxSegments];
  int first_tile[kQgemvMaxSegments + 1];  // prefix sums of each segment's tiles
  int count;
};

// D += A·B, f16 inputs, f32 accumulators. Not volatile: the compiler may
// schedule it among the masks.
__device__ __forceinline__ void mma(float (&d)[4], unsigned a0, unsigned a1, unsigned a2,
                                    unsigned a3, unsigned b0, unsigned b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Both steps of one code word: rows g (lo) and g + 8 (hi), x pairs
// (0,4 1,5) then (2,6 3,7).
__device__ __forceinline__ void mma_word(float (&d)[4], unsigned lo, unsigned hi, uint4 xv) {
  const unsigned l8 = lo >> 8, h8 = hi >> 8;
  mma(d, mask_or<0x000F000Fu, 0x64006400u>(lo), mask_or<0x000F000Fu, 0x64006400u>(hi),
      mask_or<0x00F000F0u, 0x54005400u>(lo), mask_or<0x00F000F0u, 0x54005400u>(hi), xv.x, xv.y);
  mma(d, mask_or<0x000F000Fu, 0x64006400u>(l8), mask_or<0x000F000Fu, 0x64006400u>(h8),
      mask_or<0x00F000F0u, 0x54005400u>(l8), mask_or<0x00F000F0u, 0x54005400u>(h8), xv.z, xv.w);
}

// Both steps of two 8-bit code words (4 codes each): a byte permute puts
// each code under an f16 exponent of 1024, (1024 + c) exactly; word k's
// codes (c0 c1 c2 c3) meet x pairs (0,1 2,3).
__device__ __forceinline__ void mma_words8(float (&d)[4], unsigned lo0, unsigned hi0, unsigned lo1,
                                           unsigned hi1, uint4 xv) {
  constexpr unsigned kExp = 0x64646464u;
  mma(d, __byte_perm(lo0, kExp, 0x4140), __byte_perm(hi0, kExp, 0x4140),
      __byte_perm(lo0, kExp, 0x4342), __byte_perm(hi0, kExp, 0x4342), xv.x, xv.y);
  mma(d, __byte_perm(lo1, kExp, 0x4140), __byte_perm(hi1, kExp, 0x4140),
      __byte_perm(lo1, kExp, 0x4342), __byte_perm(hi1, kExp, 0x4342), xv.z, xv.w);
}

// 4 or 8 bytes global -> shared without registers, zeros when !valid
// (nothing is read then): the scale pairs beside mma_util.cuh's 16-byte
// cp_async16 for the codes.
template <int N>
__device__ __forceinline__ void copy_small(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(shared_addr(dst)), "l"(src),
               "n"(N), "r"(valid ? N : 0));
}

// Bytes of a lane's scale (bias) pair: two 16-bit values or two floats.
template <WType P>
constexpr int pair_bytes() {
  return P == WType::kF32 ? 8 : 4;
}

template <WType P>
__device__ __forceinline__ float2 unpack_pair(const unsigned char* p) {
  if constexpr (P == WType::kF32) {
    return *reinterpret_cast<const float2*>(p);
  } else if constexpr (P == WType::kBF16) {
    const unsigned w = *reinterpret_cast<const unsigned*>(p);
    return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xFFFF0000u));
  } else {
    return __half22float2(*reinterpret_cast<const __half2*>(p));
  }
}

// Shared memory: per warp its ring of kStages stages (codes
// [span][2 rows][1 or 2 pieces][32 lanes] of 16 bytes, then the lane's
// scale and bias pairs [2 rows][scale, bias][32 lanes]), its slice's x (f16,
// [input row][span][4 words][4 lanes] of 16 bytes) and group sums
// ([input row][group] of {OFF, XS}); the block's per-tile partial sums
// (double-buffered) and a zero block for the B operand of lanes without x.
struct Layout {
  int stages_per_warp;
  int stage_bytes;
  int params_offset;  // within a stage
  int x_offset;       // within a warp's part
  int x_row;          // uint4 per input row of a warp's x
  int sum_offset;
  int sum_row;  // groups per input row of a warp's sums
  int warp_bytes;
  int red_offset;
  int zero_offset;
  int total;
};

// Warps that split one tile's K: the largest power of two up to kWarps that
// leaves each at least one stage (the block's other warps take other tiles).
__host__ __device__ inline int warps_per_tile(int stages) {
  int w = kWarps;
  while (w > 1 && w > stages) w /= 2;
  return w;
}

// M input rows of `bits`-bit codes, stages of `spans` spans, `pair` bytes
// per scale pair.
__host__ __device__ inline Layout layout(int bits, int M, int K, int group, int spans, int pair) {
  Layout l{};
  const int stage_cols = spans * kSpan;
  const int stages = K / stage_cols;
  const int wt = warps_per_tile(stages);
  l.stages_per_warp = (stages + wt - 1) / wt;
  l.params_offset = spans * 2 * (bits / 4) * 32 * 16;  // 16 (32) bytes a lane and row
  l.stage_bytes = l.params_offset + 4 * 32 * pair;
  l.x_offset = kStages * l.stage_bytes;
  l.x_row = l.stages_per_warp * stage_cols / 8;
  l.sum_offset = l.x_offset + M * l.x_row * 16;
  l.sum_row = l.stages_per_warp * (stage_cols / group);
  l.warp_bytes = l.sum_offset + M * l.sum_row * 8;
  l.warp_bytes = (l.warp_bytes + 15) / 16 * 16;
  l.red_offset = kWarps * l.warp_bytes;
  l.zero_offset = l.red_offset + 2 * kWarps * M * kTile * static_cast<int>(sizeof(float));
  l.total = l.zero_offset + 16 * 16;  // four words' stride of uint4
  return l;
}

// Spans per stage for M input rows: the B operand's 8 columns hold every
// (input row, group) of a stage, M · spans · Q <= 8; at most 4 spans (2 for
// 8-bit codes, whose stages are twice the bytes: two blocks a multiprocessor
// still fit).
inline int spans_per_stage(int bits, int M, int group) {
  const int q = kSpan / group;
  int spans = bits == 4 ? 4 : 2;
  while (spans > 1 && M * spans * q > 8) spans /= 2;
  return spans;
}

// What every lane needs of the launch's shape, worked out on the host.
struct Shape {
  Layout L;
  int K;
  int group;
  int qn;      // groups per span (Q = 128 / group)
  int groups;  // groups per weight row (K / group)
  int C;       // 16-byte code chunks per weight row (K · bits / 128)
  int stages;  // K / stage columns
  int wt;      // warps per tile (warps_per_tile)
  int tpb;     // tiles per block pass: kWarps / wt
};

// The tile's segment and first row (s == count past the end).
__device__ __forceinline__ int tile_segment(const MmaSegments& segs, int tile, int& row0) {
  int s = 0;
  while (s < segs.count && tile >= segs.first_tile[s + 1]) ++s;
  row0 = (tile - segs.first_tile[s]) * kTile;
  return s;
}

// Where a lane's copies come from: stage j of the block's tile `tile`.
struct Cursor {
  // The warp's tiles: (blockIdx.x + k · gridDim.x) · tpb + its sub-tile.
  int tile;
  int j;                        // stage within the row
  int rows_left;                // weight rows of the segment from row g on
  const uint4* code;            // row g's first 16 bytes in span 0 of stage j
  const unsigned char* scales;  // row g's scales of the lane's two groups in stage j
  const unsigned char* biases;
};

template <WType P, int BITS, int SP>
__device__ __forceinline__ void cursor_tile(const MmaSegments& segs, const Shape& sh, int tiles,
                                            int j_begin, int g, int t, int gd, Cursor& c) {
  c.j = j_begin;
  if (c.tile >= tiles) return;
  int row0 = 0;
  const AffineWeight& w = segs.seg[tile_segment(segs, c.tile, row0)].w;
  const int rg = row0 + g;
  c.rows_left = w.n - rg;
  c.code = static_cast<const uint4*>(w.packed) + static_cast<std::int64_t>(rg) * sh.C +
           j_begin * (SP * kSpan * BITS / 128) + (BITS / 4) * t;
  // The lane's groups in a stage: gd and gd + 1 (its D columns).
  const std::int64_t first = static_cast<std::int64_t>(rg) * sh.groups +
                             static_cast<std::int64_t>(j_begin) * SP * sh.qn + gd;
  constexpr int kParam = pair_bytes<P>() / 2;
  c.scales = static_cast<const unsigned char*>(w.scales) + first * kParam;
  c.biases = static_cast<const unsigned char*>(w.biases) + first * kParam;
}

// Starts the copies of the cursor's stage into `stage` (one cp.async group,
// empty past the block's last tile).
template <WType P, int BITS, int SP>
__device__ __forceinline__ void issue_stage(const Shape& sh, int tiles, const Cursor& c,
                                            unsigned char* stage, int lane, bool d_live) {
  if (c.tile < tiles) {
    const bool in_lo = c.rows_left > 0, in_hi = c.rows_left > 8;
    auto* codes = reinterpret_cast<uint4*>(stage);
    const std::int64_t hi = static_cast<std::int64_t>(8) * sh.C;
    constexpr int kU = BITS / 4;  // 16-byte pieces a lane, row and span
#pragma unroll
    for (int s = 0; s < SP; ++s) {
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        cp_async16(codes + ((2 * s) * kU + u) * 32 + lane, c.code + 4 * kU * s + u, in_lo);
        cp_async16(codes + ((2 * s + 1) * kU + u) * 32 + lane, c.code + hi + 4 * kU * s + u, in_hi);
      }
    }
    if (d_live) {
      constexpr int kPair = pair_bytes<P>();
      unsigned char* params = stage + sh.L.params_offset + lane * kPair;
      const std::int64_t hi_params = static_cast<std::int64_t>(8) * sh.groups * (kPair / 2);
      copy_small<kPair>(params, c.scales, in_lo);
      copy_small<kPair>(params + 32 * kPair, c.biases, in_lo);
      copy_small<kPair>(params + 64 * kPair, c.scales + hi_params, in_hi);
      copy_small<kPair>(params + 96 * kPair, c.biases + hi_params, in_hi);
    }
  }
  cp_async_commit();
}

template <WType P, int BITS, int M, int SP>
__global__ void __launch_bounds__(32 * kWarps, 2)
    qgemv_mma_kernel(const float* x, Shape sh, MmaSegments segs, int tiles) {
  constexpr int kStageCols = SP * kSpan;
  constexpr int kU = BITS / 4;  // 16-byte pieces a lane, row and span
  extern __shared__ uint4 mma_smem[];
  constexpr int kPair = pair_bytes<P>();
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int g = lane >> 2, t = lane & 3;
  const Layout& L = sh.L;
  const int qn = sh.qn, group = sh.group;
  const int sub = warp / sh.wt;  // the warp's tile of the block's pass
  const int j_begin = min((warp % sh.wt) * L.stages_per_warp, sh.stages);
  const int j_end = min(j_begin + L.stages_per_warp, sh.stages);
  const int my_stages = j_end - j_begin;
  const int groups_per_stage = SP * qn;  // per input row (even)
  auto* smem = reinterpret_cast<unsigned char*>(mma_smem);
  unsigned char* mine = smem + warp * L.warp_bytes;
  uint4* xs = reinterpret_cast<uint4*>(mine + L.x_offset);
  auto* sums = reinterpret_cast<float2*>(mine + L.sum_offset);
  float* red = reinterpret_cast<float*>(smem + L.red_offset);
  const uint4* zero = reinterpret_cast<const uint4*>(smem + L.zero_offset);
  if (threadIdx.x < 16) {
    reinterpret_cast<uint4*>(smem + L.zero_offset)[threadIdx.x] = make_uint4(0, 0, 0, 0);
  }

  // Column n of B and D is (input row n / G, group n % G of the stage),
  // G = SP · Q. B: this lane's column g, in span (g % G) / Q; the lane gives
  // x there where its 32 columns fall in that group. D: its columns 2t and
  // 2t + 1, one input row md and groups gd, gd + 1 (G is even).
  const int b_row = g / groups_per_stage, b_group = g % groups_per_stage;
  const int b_span = b_group / qn;
  const bool b_live = b_row < M && (32 * t) / group == b_group % qn;
  const int md = (2 * t) / groups_per_stage, gd = (2 * t) % groups_per_stage;
  const bool d_live = md < M;

  // The ring starts before waiting for the kernel that writes x (launched
  // early): the codes are constant.
  const int pass0 = static_cast<int>(blockIdx.x);
  const int passes = (tiles + sh.tpb - 1) / sh.tpb;
  const int grid = static_cast<int>(gridDim.x);
  const int tile0 = pass0 * sh.tpb + sub;
  const int tile_step = grid * sh.tpb;
  Cursor next{};
  next.tile = my_stages > 0 ? tile0 : tiles;  // nothing to copy: empty groups
  cursor_tile<P, BITS, SP>(segs, sh, tiles, j_begin, g, t, gd, next);
  const std::int64_t param_step = static_cast<std::int64_t>(groups_per_stage) * (kPair / 2);
  const auto advance = [&] {
    if (++next.j == j_end) {
      next.tile += tile_step;
      cursor_tile<P, BITS, SP>(segs, sh, tiles, j_begin, g, t, gd, next);
    } else {
      next.code += kStageCols * BITS / 128;
      next.scales += param_step;
      next.biases += param_step;
    }
  };
  for (int st = 0; st < kStages; ++st) {
    issue_stage<P, BITS, SP>(sh, tiles, next, mine + st * L.stage_bytes, lane, d_live);
    advance();
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
  // Stage this warp's slice of each input row: lane i takes words i,
  // i + 32, ... (8 values each), writes them in the masks' order
  // (0 4 1 5 2 6 3 7) and sums them; the lanes of a group then add their
  // sums up (8 or 16 adjacent words; a slice is a multiple of 16 words).
  // Four words' loads per lane are in flight before any is used: one L2
  // round trip per 128 words, not per 32.
  {
    constexpr int kBatch = 4;
    const int words = my_stages * (kStageCols / 8);
    const int wpg = group / 8;
    const int wpg_shift = group == 64 ? 3 : 4;  // log2(wpg)
    for (int m = 0; m < M; ++m) {
      const float* src0 =
          x + static_cast<std::int64_t>(m) * sh.K + static_cast<std::int64_t>(j_begin) * kStageCols;
      for (int i0 = 0; i0 < words; i0 += 32 * kBatch) {
        float4 a[kBatch], b[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int wi = i0 + 32 * u + lane;
          a[u] = b[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
          if (wi < words) {
            const float4* src = reinterpret_cast<const float4*>(src0 + 8 * wi);
            a[u] = src[0];
            b[u] = src[1];
          }
        }
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int wi = i0 + 32 * u + lane;
          if (i0 + 32 * u >= words) break;  // the same for the whole warp
          // 4-bit words meet x pairs (0,4 1,5 2,6 3,7), with offsets 1024
          // and 64 in turn; 8-bit words (0,1 2,3 4,5 6,7), all 1024.
          __half2 h[4];
          if constexpr (BITS == 4) {
            h[0] = __floats2half2_rn(a[u].x, b[u].x);
            h[1] = __floats2half2_rn(a[u].y, b[u].y);
            h[2] = __floats2half2_rn(a[u].z, b[u].z);
            h[3] = __floats2half2_rn(a[u].w, b[u].w);
          } else {
            h[0] = __floats2half2_rn(a[u].x, a[u].y);
            h[1] = __floats2half2_rn(a[u].z, a[u].w);
            h[2] = __floats2half2_rn(b[u].x, b[u].y);
            h[3] = __floats2half2_rn(b[u].z, b[u].w);
          }
          // The offsets as the mma sees them: x rounded to f16.
          const float2 e0 = __half22float2(h[0]), e2 = __half22float2(h[2]);
          const float2 o1 = __half22float2(h[1]), o3 = __half22float2(h[3]);
          const float odd_offset = BITS == 4 ? 64.0f : 1024.0f;
          float off = 1024.0f * ((e0.x + e0.y) + (e2.x + e2.y)) +
                      odd_offset * ((o1.x + o1.y) + (o3.x + o3.y));
          float sum =
              ((a[u].x + a[u].y) + (a[u].z + a[u].w)) + ((b[u].x + b[u].y) + (b[u].z + b[u].w));
          for (int o = 1; o < wpg; o <<= 1) {
            off += __shfl_xor_sync(0xffffffffu, off, o);
            sum += __shfl_xor_sync(0xffffffffu, sum, o);
          }
          if (wi < words) {
            // Word wi of the slice: span wi / 16, quad lane (wi / 4) % 4, word wi % 4.
            xs[m * L.x_row + ((wi >> 4) * 4 + (wi & 3)) * 4 + ((wi >> 2) & 3)] =
                *reinterpret_cast<const uint4*>(h);
            if ((wi & (wpg - 1)) == 0)
              sums[m * L.sum_row + (wi >> wpg_shift)] = make_float2(off, sum);
          }
        }
      }
    }
  }
  __syncthreads();  // the staged x and the zero block
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // x is read: the next kernel may get resident as blocks here finish (it
  // waits for this grid's completion before reading y).
  cudaTriggerProgrammaticLaunchCompletion();
#endif

  int buf = 0, st = 0;
  for (int pass = pass0; pass < passes; pass += grid) {
    // Every warp meets the block's barrier once a pass; a warp whose tile is
    // past the end copies and reads nothing (its cursor is past it too).
    const int tile = pass * sh.tpb + sub;
    float acc_lo = 0.0f, acc_hi = 0.0f;  // rows g and g + 8
    for (int j = j_begin; j < (tile < tiles ? j_end : j_begin); ++j) {
      cp_async_wait<kStages - 1>();  // this lane's copies of stage j (its own bytes: no barrier)
      const unsigned char* stage = mine + st * L.stage_bytes;
      const auto* codes = reinterpret_cast<const uint4*>(stage);
      const int js = j - j_begin;  // stage within the slice
      // Two accumulator chains (even and odd spans) halve the mma chain.
      float d[4] = {0.0f, 0.0f, 0.0f, 0.0f}, e[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int s = 0; s < SP; ++s) {
        const uint4* xp =
            b_live && s == b_span ? xs + b_row * L.x_row + (js * SP + s) * 16 + t : zero;
        float(&acc)[4] = (s & 1) != 0 ? e : d;
        const uint4 lo = codes[(2 * s) * kU * 32 + lane];
        const uint4 hi = codes[(2 * s + 1) * kU * 32 + lane];
        if constexpr (BITS == 4) {
          mma_word(acc, lo.x, hi.x, xp[0]);
          mma_word(acc, lo.y, hi.y, xp[4]);
          mma_word(acc, lo.z, hi.z, xp[8]);
          mma_word(acc, lo.w, hi.w, xp[12]);
        } else {
          const uint4 lo1 = codes[((2 * s) * kU + 1) * 32 + lane];
          const uint4 hi1 = codes[((2 * s + 1) * kU + 1) * 32 + lane];
          mma_words8(acc, lo.x, hi.x, lo.y, hi.y, xp[0]);
          mma_words8(acc, lo.z, hi.z, lo.w, hi.w, xp[4]);
          mma_words8(acc, lo1.x, hi1.x, lo1.y, hi1.y, xp[8]);
          mma_words8(acc, lo1.z, hi1.z, lo1.w, hi1.w, xp[12]);
        }
      }
      float2 slo{}, blo{}, shi{}, bhi{};
      float4 c{};
      if (d_live) {
        const unsigned char* params = stage + L.params_offset + lane * kPair;
        slo = unpack_pair<P>(params);
        blo = unpack_pair<P>(params + 32 * kPair);
        shi = unpack_pair<P>(params + 64 * kPair);
        bhi = unpack_pair<P>(params + 96 * kPair);
        c = *reinterpret_cast<const float4*>(sums + md * L.sum_row + js * groups_per_stage + gd);
      }
      // The stage is read (its values are used above): refill it.
      issue_stage<P, BITS, SP>(sh, tiles, next, mine + st * L.stage_bytes, lane, d_live);
      advance();
      st = st + 1 == kStages ? 0 : st + 1;
      if (d_live) {
        acc_lo += slo.x * ((d[0] + e[0]) - c.x) + blo.x * c.y;
        acc_lo += slo.y * ((d[1] + e[1]) - c.z) + blo.y * c.w;
        acc_hi += shi.x * ((d[2] + e[2]) - c.x) + bhi.x * c.y;
        acc_hi += shi.y * ((d[3] + e[3]) - c.z) + bhi.y * c.w;
      }
    }
    // The quad's lanes of one input row hold the tile rows' other groups
    // (G / 2 adjacent lanes); then the block's warps (K slices) meet in
    // shared memory.
    for (int o = 1; o < groups_per_stage / 2; o <<= 1) {
      acc_lo += __shfl_xor_sync(0xffffffffu, acc_lo, o);
      acc_hi += __shfl_xor_sync(0xffffffffu, acc_hi, o);
    }
    float* r = red + buf * (kWarps * M * kTile);
    if (d_live && gd == 0) {
      r[(warp * M + md) * kTile + g] = acc_lo;
      r[(warp * M + md) * kTile + g + 8] = acc_hi;
    }
    __syncthreads();
    // One thread per (sub-tile, input row, weight row): the sum over the
    // sub-tile's warps.
    const int tid = static_cast<int>(threadIdx.x);
    const int out_sub = tid / (M * kTile), m = (tid / kTile) % M, row = tid % kTile;
    const int out_tile = pass * sh.tpb + out_sub;
    if (tid < sh.tpb * M * kTile && out_tile < tiles) {
      int row0 = 0;
      const QSegment& seg = segs.seg[tile_segment(segs, out_tile, row0)];
      if (row0 + row < seg.w.n) {
        const float* part = r + (out_sub * sh.wt * M + m) * kTile + row;
        float y = 0.0f;
        for (int wp = 0; wp < sh.wt; ++wp) y += part[wp * M * kTile];
        if (seg.bias != nullptr) y += seg.bias[row0 + row];
        seg.y[static_cast<std::int64_t>(m) * seg.w.n + row0 + row] = y;
      }
    }
    buf ^= 1;
  }
  asm volatile("cp.async.wait_all;\n" ::);  // nothing left in flight at exit
}

template <WType P, int BITS, int M, int SP>
cudaError_t launch_mma(const float* x, int K, int group, const MmaSegments& segs, int tiles,
                       cudaStream_t s) {
  const auto kernel = qgemv_mma_kernel<P, BITS, M, SP>;
  Shape sh{};
  sh.L = layout(BITS, M, K, group, SP, pair_bytes<P>());
  sh.K = K;
  sh.group = group;
  sh.qn = kSpan / group;
  sh.groups = K / group;
  sh.C = K * BITS / 128;
  sh.stages = K / (SP * kSpan);
  sh.wt = warps_per_tile(sh.stages);
  sh.tpb = kWarps / sh.wt;
  const auto smem = static_cast<std::size_t>(sh.L.total);
  static PerDeviceOnce once;  // one per kernel (a template's static)
  cudaError_t e = opt_in_smem(once, kernel, static_cast<std::size_t>(smem_optin_limit()));
  int at_once = 0;
  if (e == cudaSuccess) {
    e = resident_blocks(kernel, 32 * kWarps, smem, static_cast<std::int64_t>(K) * 256 + group,
                        at_once);
  }
  if (e != cudaSuccess) return e;
  // Every block strides over the same number of passes (tpb tiles each).
  const int passes = (tiles + sh.tpb - 1) / sh.tpb;
  const int rounds = (passes + at_once - 1) / at_once;
  const auto blocks = static_cast<unsigned>((passes + rounds - 1) / rounds);
  return launch_early_smem(kernel, blocks, 32 * kWarps, smem, s, x, sh, segs, tiles);
}

// The kernel for BITS-bit codes and M rows at this group size
// (spans_per_stage: 4 spans at one row of 4-bit codes, 2 at two rows of
// groups of 64, ...).
template <WType P, int BITS>
cudaError_t mma_rows(const float* x, int M, int K, int group, const MmaSegments& segs, int tiles,
                     cudaStream_t s) {
  return with_rows<kMaxRows>(M, [&](auto m) -> cudaError_t {
    constexpr int kM = decltype(m)::value;
    switch (spans_per_stage(BITS, kM, group)) {
      case 4:
        if constexpr (BITS == 4 && kM <= 2) {
          return launch_mma<P, BITS, kM, 4>(x, K, group, segs, tiles, s);
        }
        break;
      case 2:
        if constexpr (BITS == 8 || kM >= 2) {
          return launch_mma<P, BITS, kM, 2>(x, K, group, segs, tiles, s);
        }
        break;
      case 1:
        if constexpr (kM >= 3) return launch_mma<P, BITS, kM, 1>(x, K, group, segs, tiles, s);
        break;
      default:
        break;
    }
    return cudaErrorInvalidValue;
  });
}

template <WType P>
cudaError_t mma_bits(const float* x, int bits, int M, int K, int group, const MmaSegments& segs,
                     int tiles, cudaStream_t s) {
  return bits == 4 ? mma_rows<P, 4>(x, M, K, group, segs, tiles, s)
                   : mma_rows<P, 8>(x, M, K, group, segs, tiles, s);
}

}  // namespace

bool qgemv_mma_supports(int bits, int M, std::int64_t K, int group) {
  // MLXS_Q4_MMA=0 keeps 4-bit weights off this kernel (A/B runs).
  static const bool enabled = [] {
    const char* v = std::getenv("MLXS_Q4_MMA");
    return v == nullptr || v[0] != '0';
  }();
  if (!enabled || (bits != 4 && bits != 8) || M < 1 || M > kMaxRows || K <= 0 || K % kKStep != 0 ||
      K >= (1 << 24)) {
    return false;
  }
  if (group != 64 && group != 128) return false;
  // The largest layout (f32 parameters) must fit.
  return layout(bits, M, static_cast<int>(K), group, spans_per_stage(bits, M, group),
                pair_bytes<WType::kF32>())
             .total <= smem_optin_limit();
}

cudaError_t qgemv_mma(const float* x, int M, int K, const QSegment* segments, int count,
                      cudaStream_t s) {
  if (count <= 0 || count > kQgemvMaxSegments) return cudaErrorInvalidValue;
  const int group = segments[0].w.group, bits = segments[0].w.bits;
  if (!qgemv_mma_supports(bits, M, K, group)) return cudaErrorInvalidValue;
  MmaSegments segs{};
  segs.count = count;
  segs.first_tile[0] = 0;
  for (int i = 0; i < count; ++i) {
    const AffineWeight& w = segments[i].w;
    if (w.bits != bits || w.group != group || w.param_type != segments[0].w.param_type) {
      return cudaErrorInvalidValue;
    }
    segs.seg[i] = segments[i];
    segs.first_tile[i + 1] = segs.first_tile[i] + (w.n + kTile - 1) / kTile;
  }
  const int tiles = segs.first_tile[count];
  if (tiles == 0) return cudaSuccess;
  return with_param_type(segments[0].w.param_type, [&](auto p) {
    return mma_bits<decltype(p)::value>(x, bits, M, K, group, segs, tiles, s);
  });
}

}  // namespace mlxs::backend::cuda::k
