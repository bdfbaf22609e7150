#pragma once
// The warp-level tensor-core pieces the attention kernels share: cp.async
// copies into shared memory, ldmatrix fragments and bf16 m16n8k16 mma.sync
// with f32 accumulators (kernels_attention_prefill.cu,
// kernels_attention_decode_tc.cu). Device code only.

#include <cmath>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace mlxs::backend::cuda::k {

__device__ __forceinline__ unsigned shared_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; zeros when !valid (nothing read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Four 8 x 8 bf16 matrices; lanes 8j..8j+7 give the row addresses of matrix j.
__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_addr(p)));
}
// The same, each matrix transposed (V's rows are keys; P·V wants them as k).
__device__ __forceinline__ void ldsm_x4_t(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_addr(p)));
}

// An 8 x 8 matrix of 16-bit elements transposed across the warp: the lane
// holding row r, columns 2c and 2c + 1 gets row r, columns 2c and 2c + 1 of
// the transpose (a C fragment's packed halves become a B fragment).
__device__ __forceinline__ unsigned movmatrix_t(unsigned x) {
  unsigned y;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
  return y;
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                         unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // lo in the low half
  return *reinterpret_cast<const unsigned*>(&v);
}

__device__ __forceinline__ void mma_f16(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                        unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned pack_f16(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);  // lo in the low half
  return *reinterpret_cast<const unsigned*>(&v);
}

// The same by operand type T (__nv_bfloat16 or __half), for kernels
// templated on it.
template <typename T>
__device__ __forceinline__ void mma16(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                      unsigned b1) {
  if constexpr (std::is_same_v<T, __half>) {
    mma_f16(c, a, b0, b1);
  } else {
    mma_bf16(c, a, b0, b1);
  }
}
template <typename T>
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    return pack_f16(lo, hi);
  } else {
    return pack_bf16(lo, hi);
  }
}

__device__ __forceinline__ float fast_exp2(float x) {  // 2^x; -inf gives 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// A raw score in the log2 units of the online softmax: times the scale, or
// soft-capped (cap · tanh(s · scale / cap)); scale_log2 = scale · log2(e).
__device__ __forceinline__ float log2_logit(float s, float scale, float scale_log2, float softcap) {
  constexpr float kLog2e = 1.4426950408889634f;
  return softcap > 0.0f ? softcap * tanhf(s * scale / softcap) * kLog2e : s * scale_log2;
}

// A row's running max (log2 units) after a tile whose max is tile_max: the
// correction of what was summed before (corr) and the reference the tile's
// exponentials subtract (0 while every key so far is masked).
__device__ __forceinline__ float raise_running_max(float& mx, float tile_max, float& corr) {
  const float new_max = fmaxf(mx, tile_max);
  const float ref = new_max == -INFINITY ? 0.0f : new_max;
  corr = fast_exp2(mx - ref);
  mx = new_max;
  return ref;
}

// Row ri's scores of a warp's score tiles (ri 0: row lane / 4, 1: lane / 4
// + 8) scaled (or soft-capped) into log2 units and, where `masked`, set to
// -inf where !live(ri, key) (key = key0 + 8n + 2(lane % 4) + e, the MMA's
// layout); returns the row's max over the tile (across its quad).
template <int NT, typename Live>
__device__ __forceinline__ float tile_row_max(float (&sc)[NT][4], int ri, float scale,
                                              float scale_log2, float softcap, int key0,
                                              bool masked, Live&& live) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  float tile_max = -INFINITY;
#pragma unroll
  for (int n = 0; n < NT; ++n) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      float s = log2_logit(sc[n][2 * ri + e], scale, scale_log2, softcap);
      if (masked) s = live(ri, key0 + n * 8 + (lane & 3) * 2 + e) ? s : -INFINITY;
      sc[n][2 * ri + e] = s;
      tile_max = fmaxf(tile_max, s);
    }
  }
  tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
  return fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
}

// Row ri's log2 scores turned into probabilities against `ref`; returns
// this lane's share of their sum.
template <int NT>
__device__ __forceinline__ float tile_row_exp(float (&sc)[NT][4], int ri, float ref) {
  float add = 0.0f;
#pragma unroll
  for (int n = 0; n < NT; ++n) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const float p = fast_exp2(sc[n][2 * ri + e] - ref);
      sc[n][2 * ri + e] = p;
      add += p;
    }
  }
  return add;
}

// One step of the online softmax over a warp's score tiles, for the two
// rows a lane holds: scale (or soft-cap) into log2 units, mask keys where
// !live(ri, key) (tile_row_max), update the running max and sum, rescale the
// output accumulators, and leave the probabilities in sc.
template <int NT, int DT, typename Live>
__device__ __forceinline__ void online_softmax_step(float (&sc)[NT][4], float (&o)[DT][4],
                                                    float (&mx)[2], float (&sum)[2], float scale,
                                                    float softcap, int key0, Live&& live) {
  constexpr float kLog2e = 1.4426950408889634f;
  const float scale_log2 = scale * kLog2e;
#pragma unroll
  for (int ri = 0; ri < 2; ++ri) {
    const float tile_max = tile_row_max(sc, ri, scale, scale_log2, softcap, key0, true, live);
    float corr;
    const float ref = raise_running_max(mx[ri], tile_max, corr);
    sum[ri] = sum[ri] * corr + tile_row_exp(sc, ri, ref);
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      o[dt][2 * ri] *= corr;
      o[dt][2 * ri + 1] *= corr;
    }
  }
}

// online_softmax_step with a lazy running max (the prefill kernel): a row's
// reference rises only when a tile's max passes it by more than
// kLazyMaxLog2, so probabilities stay under 2^kLazyMaxLog2 (f16 and bf16 P
// hold them; the sums are f32) and the warp rescales its accumulators only
// when one of its rows rose (DT x 4 multiplies a tile otherwise). `masked`:
// whether any key of the tile may be dead for a row of the warp (false skips
// the checks).
constexpr float kLazyMaxLog2 = 8.0f;
template <int NT, int DT, typename Live>
__device__ __forceinline__ void online_softmax_step_lazy(float (&sc)[NT][4], float (&o)[DT][4],
                                                         float (&mx)[2], float (&sum)[2],
                                                         float scale, float softcap, int key0,
                                                         bool masked, Live&& live) {
  constexpr float kLog2e = 1.4426950408889634f;
  const float scale_log2 = scale * kLog2e;
  float corr[2] = {1.0f, 1.0f};
  bool rose = false;
#pragma unroll
  for (int ri = 0; ri < 2; ++ri) {
    const float tile_max = tile_row_max(sc, ri, scale, scale_log2, softcap, key0, masked, live);
    if (tile_max > mx[ri] + kLazyMaxLog2) {  // also a row's first live tile (mx = -inf)
      corr[ri] = fast_exp2(mx[ri] - tile_max);
      mx[ri] = tile_max;
      rose = true;
    }
    sum[ri] = sum[ri] * corr[ri] + tile_row_exp(sc, ri, mx[ri] == -INFINITY ? 0.0f : mx[ri]);
  }
  if (__any_sync(0xffffffffu, rose)) {
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      o[dt][0] *= corr[0];
      o[dt][1] *= corr[0];
      o[dt][2] *= corr[1];
      o[dt][3] *= corr[1];
    }
  }
}

// online_softmax_step for a transposed score tile (keys as the MMA's rows,
// query heads as its columns): st[j] is key key0 + lane / 4 + 8 (j / 2) of
// head 2 (lane % 4) + j % 2. Per head h = j % 2: the max over the tile's 16
// keys (across the lanes' quads), the running max, this lane's share of the
// running sum (the warp's lanes of one head are added at the end), and the
// output accumulators' column h (o[mt][h], o[mt][2 + h]) rescaled. Keys at
// or past `end` are masked.
template <int MT>
__device__ __forceinline__ void online_softmax_step_t(float (&st)[4], float (&o)[MT][4],
                                                      float (&mx)[2], float (&sum)[2], float scale,
                                                      float softcap, int key0, int end) {
  constexpr float kLog2e = 1.4426950408889634f;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const float scale_log2 = scale * kLog2e;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int key = key0 + (lane >> 2) + 8 * (j >> 1);
    const float s = log2_logit(st[j], scale, scale_log2, softcap);
    st[j] = key < end ? s : -INFINITY;
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float tile_max = fmaxf(st[h], st[2 + h]);
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 4));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 8));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 16));
    float corr;
    const float ref = raise_running_max(mx[h], tile_max, corr);
    const float p0 = fast_exp2(st[h] - ref);
    const float p1 = fast_exp2(st[2 + h] - ref);
    st[h] = p0;
    st[2 + h] = p1;
    sum[h] = sum[h] * corr + (p0 + p1);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      o[mt][h] *= corr;
      o[mt][2 + h] *= corr;
    }
  }
}

}  // namespace mlxs::backend::cuda::k
