// The all-reduce of decode-sized partial sums between the GPUs of one
// process, over peer access (NVLink): each rank pushes its rows into every
// other rank's inbox, raises a flag there, waits for the others' flags in
// its own memory and adds the parts in rank order. One kernel, no host
// round trip and no NCCL launch in the step; optionally fused with the
// residual add and the next RMSNorm. See peer_exchange.h for why and when.
#include <cstdint>

#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch_util.cuh"

namespace mlxs::backend::cuda::k {
namespace {

__device__ __forceinline__ unsigned load_acquire_sys(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

__device__ __forceinline__ void store_release_sys(unsigned* p, unsigned v) {
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

__device__ __forceinline__ float4 add4(float4 a, float4 b) {
  return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

// One block per row, each thread V float4s of it. Call c (counted per row
// index, alike on every rank) uses inbox phase c & 1: a rank writes a phase
// again only two calls later, after the other ranks' flags of the call in
// between, which they raise only once they have read this one (stream
// order). A flag may already show the next call (a faster peer), never one
// further; the comparison is modular, so the counters may wrap.
template <int V, bool kNorm>
__global__ void __launch_bounds__(1024)
    peer_all_reduce_kernel(PeerLinks links, float* t, float* x, const float* w, float eps,
                           float offset, float* out, int n) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // the next GEMV may start prefetching weights
  cudaGridDependencySynchronize();            // launched early (decode): t is the previous kernel's
#endif
  const int row = blockIdx.x;
  const int quads = n / 4;
  const std::int64_t offset_in_slot = static_cast<std::int64_t>(row) * n;
  __shared__ unsigned call_s;
  if (threadIdx.x == 0) call_s = links.counters[row] + 1;
  __syncthreads();
  const unsigned call = call_s;
  const std::int64_t phase_base =
      static_cast<std::int64_t>(call & 1u) * links.world * kPeerSlotFloats;

  float4 mine[V];
  const auto* tr = reinterpret_cast<const float4*>(t + offset_in_slot);
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const int i = threadIdx.x + v * blockDim.x;
    mine[v] = i < quads ? tr[i] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  const std::int64_t my_part = phase_base + links.rank * kPeerSlotFloats + offset_in_slot;
  for (int q = 0; q < links.world; ++q) {
    if (q == links.rank) continue;
    auto* dst = reinterpret_cast<float4*>(links.inbox[q] + my_part);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int i = threadIdx.x + v * blockDim.x;
      if (i < quads) dst[i] = mine[v];
    }
  }
  __syncthreads();
  // Thread q signals rank q that this row has landed there, then waits for
  // rank q's part of it here. The barrier orders every thread's writes
  // before thread q's release, which is cumulative (as CUTLASS's barriers
  // rely on): no separate system fence.
  const int q = static_cast<int>(threadIdx.x);
  if (q < links.world && q != links.rank) {
    store_release_sys(links.flags[q] + links.rank * kPeerMaxRows + row, call);
    const unsigned* arrived = links.flags[links.rank] + q * kPeerMaxRows + row;
    for (unsigned spins = 1; static_cast<int>(load_acquire_sys(arrived) - call) < 0; ++spins) {
      if ((spins & 1023u) == 0 && *links.abort != 0) break;  // the group is gone
    }
  }
  __syncthreads();

  float4 sum[V];
  const float* inbox = links.inbox[links.rank] + phase_base + offset_in_slot;
  for (int r = 0; r < links.world; ++r) {
    const auto* part = reinterpret_cast<const float4*>(inbox + r * kPeerSlotFloats);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int i = threadIdx.x + v * blockDim.x;
      // Past L1: the peers wrote these lines into L2 behind its back.
      const float4 p = r == links.rank ? mine[v]
                       : i < quads     ? __ldcg(part + i)
                                       : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      sum[v] = r == 0 ? p : add4(sum[v], p);
    }
  }

  if constexpr (!kNorm) {
    auto* tw = reinterpret_cast<float4*>(t + offset_in_slot);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int i = threadIdx.x + v * blockDim.x;
      if (i < quads) tw[i] = sum[v];
    }
  } else {
    auto* xr = reinterpret_cast<float4*>(x + offset_in_slot);
    float ss = 0.0f;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int i = threadIdx.x + v * blockDim.x;
      if (i < quads) {
        sum[v] = add4(xr[i], sum[v]);
        xr[i] = sum[v];
        ss += sum[v].x * sum[v].x + sum[v].y * sum[v].y + sum[v].z * sum[v].z + sum[v].w * sum[v].w;
      }
    }
    const float inv = rsqrtf(block_sum(ss) / static_cast<float>(n) + eps);
    auto* yr = reinterpret_cast<float4*>(out + offset_in_slot);
    const auto* g4 = reinterpret_cast<const float4*>(w);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int i = threadIdx.x + v * blockDim.x;
      if (i < quads) {
        const float4 g = g4[i];
        const float4 s = sum[v];
        yr[i] = make_float4(s.x * inv * (g.x + offset), s.y * inv * (g.y + offset),
                            s.z * inv * (g.z + offset), s.w * inv * (g.w + offset));
      }
    }
  }
  if (threadIdx.x == 0) links.counters[row] = call;
}

template <int V, bool kNorm>
cudaError_t launch(const PeerLinks& links, float* t, float* x, const float* w, float eps,
                   float offset, float* out, int rows, int n, cudaStream_t s, bool early) {
  const int quads = n / 4;
  const auto threads = static_cast<unsigned>(((quads + V - 1) / V + 31) / 32 * 32);
  const auto blocks = static_cast<unsigned>(rows);
  if (early) {
    return launch_early(peer_all_reduce_kernel<V, kNorm>, blocks, threads, s, links, t, x, w, eps,
                        offset, out, n);
  }
  peer_all_reduce_kernel<V, kNorm><<<blocks, threads, 0, s>>>(links, t, x, w, eps, offset, out, n);
  return cudaGetLastError();
}

template <bool kNorm>
cudaError_t launch_for_width(const PeerLinks& links, float* t, float* x, const float* w, float eps,
                             float offset, float* out, int rows, int n, cudaStream_t s,
                             bool early) {
  const int quads = n / 4;
  if (quads <= 1024) return launch<1, kNorm>(links, t, x, w, eps, offset, out, rows, n, s, early);
  if (quads <= 2048) return launch<2, kNorm>(links, t, x, w, eps, offset, out, rows, n, s, early);
  return launch<4, kNorm>(links, t, x, w, eps, offset, out, rows, n, s, early);
}

}  // namespace

cudaError_t peer_all_reduce(const PeerLinks& links, float* t, float* x, const float* w, float eps,
                            float offset, float* out, int rows, int n, cudaStream_t s, bool early) {
  if (rows == 0) return cudaSuccess;
  if (rows < 0 || rows > kPeerMaxRows || n <= 0 || n % 4 != 0 || n > kPeerMaxCols ||
      static_cast<std::int64_t>(rows) * n > kPeerSlotFloats || links.world < 2 ||
      links.world > kPeerMaxRanks) {
    return cudaErrorInvalidValue;
  }
  if (x != nullptr) {
    return launch_for_width<true>(links, t, x, w, eps, offset, out, rows, n, s, early);
  }
  return launch_for_width<false>(links, t, x, w, eps, offset, out, rows, n, s, early);
}

}  // namespace mlxs::backend::cuda::k
