// Times the packed 4-bit linears of one Llama-3.1-8B decode token (32 layers
// of q/k/v, o, gate/up and down, then lm_head; random codes, bf16 scales and
// biases) through k::qgemv (1-8 rows) and k::qgemm (2-64 rows), against the
// device's copy bandwidth, with every layer's weights in memory (no L2
// reuse), each token captured in a CUDA graph. Not a test: a benchmark, built
// by hand on the CPU machine and run on the GPU one:
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -Isrc \
//     --expt-relaxed-constexpr tests/backend/cuda/quant_kernel_bench.cu \
//     src/backend/cuda/kernels_{quant,qgemm,basic}.cu -o qbench
//   QB_VARIANTS=6 qbench 1 2 8 16 32    (bit 1: qgemv, bit 2: qgemm)
// QB_GROUP=32|64|128 picks the group size, QB_PER_OP=1 adds a line per linear
// kind at the first row count. For A/B runs in one process, other versions
// of the kernel files can be compiled into other namespaces (sed the
// namespace line) and linked with -DQB_OLD (kold::qgemv, kgold::qgemm),
// -DQB_VARIANTS_EXTRA (kv1..kv3::qgemv) or -DQB_GEMM_VARIANT (kgv1::qgemm).
// Each line: the token's median time, its bandwidth over the packed bytes and
// that as a share of the copy bound, and the relative error of 64 rows of a
// 4096 x 4096 weight against a float64 host reference (x as the path takes
// it: f32 for qgemv, bf16 for qgemm).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"

#ifdef QB_OLD
// The kernel file of an older commit compiled into namespace kold (A/B in one
// process).
namespace mlxs::backend::cuda::kold {
cudaError_t qgemv(const float* x, int M, int K, const k::QSegment* segments, int count,
                  cudaStream_t s);
}
#endif
#ifdef QB_OLD
namespace mlxs::backend::cuda::kgold {
cudaError_t qgemm(const void* x_bf16, int M, int K, const k::AffineWeight& w, const float* bias,
                  float* y, float* partial, std::size_t partial_floats, cudaStream_t s);
}
#endif
#ifdef QB_GEMM_VARIANT
namespace mlxs::backend::cuda::kgv1 {
cudaError_t qgemm(const void* x_bf16, int M, int K, const k::AffineWeight& w, const float* bias,
                  float* y, float* partial, std::size_t partial_floats, cudaStream_t s);
}
#endif
#ifdef QB_VARIANTS_EXTRA
// Variants of the current file (constants changed) in namespaces kv1..kvN.
#define QB_DECL(ns)                                                                       \
  namespace mlxs::backend::cuda::ns {                                                     \
  cudaError_t qgemv(const float* x, int M, int K, const k::QSegment* segments, int count, \
                    cudaStream_t s);                                                      \
  }
QB_DECL(kv1)
QB_DECL(kv2)
QB_DECL(kv3)
#endif

namespace {

namespace k = mlxs::backend::cuda::k;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

__global__ void fill_words(unsigned* p, std::int64_t n, unsigned seed) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    unsigned v = static_cast<unsigned>(i) * 2654435761u ^ seed;
    v ^= v >> 15;
    v *= 2246822519u;
    v ^= v >> 13;
    v *= 3266489917u;
    v ^= v >> 16;
    p[i] = v;
  }
}

// bf16 values in [lo, hi).
__global__ void fill_bf16(__nv_bfloat16* p, std::int64_t n, unsigned seed, float lo, float hi) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    unsigned v = static_cast<unsigned>(i) * 2654435761u ^ seed;
    v ^= v >> 15;
    v *= 2246822519u;
    v ^= v >> 13;
    const float u = static_cast<float>(v >> 8) / 16777216.0f;
    p[i] = __float2bfloat16(lo + (hi - lo) * u);
  }
}

struct Weight {
  k::AffineWeight w;
  int K;
  std::int64_t bytes() const {
    return static_cast<std::int64_t>(w.n) * K / 2 +
           2 * 2 * static_cast<std::int64_t>(w.n) * (K / w.group);
  }
};

Weight make_weight(int n, int K, int group, unsigned seed) {
  Weight r{};
  r.K = K;
  r.w.bits = 4;
  r.w.group = group;
  r.w.n = n;
  r.w.param_type = k::WType::kBF16;
  const std::int64_t words = static_cast<std::int64_t>(n) * K / 8;
  const std::int64_t groups = static_cast<std::int64_t>(n) * (K / group);
  void *p = nullptr, *s = nullptr, *b = nullptr;
  check(cudaMalloc(&p, words * 4), "alloc");
  check(cudaMalloc(&s, groups * 2), "alloc");
  check(cudaMalloc(&b, groups * 2), "alloc");
  fill_words<<<1024, 256>>>(static_cast<unsigned*>(p), words, seed);
  fill_bf16<<<1024, 256>>>(static_cast<__nv_bfloat16*>(s), groups, seed * 3 + 1, -0.02f, 0.02f);
  fill_bf16<<<1024, 256>>>(static_cast<__nv_bfloat16*>(b), groups, seed * 5 + 2, -0.1f, 0.1f);
  check(cudaGetLastError(), "fill");
  r.w.packed = p;
  r.w.scales = s;
  r.w.biases = b;
  return r;
}

// One linear of the token: weights sharing x.
struct Op {
  std::vector<Weight> segs;
  int K;
  const float* x;
  std::vector<float*> y;
};

float bf16_to_float(std::uint16_t v) {
  const std::uint32_t u = static_cast<std::uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float round_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

// Host float64 reference of rows [0, rows) of weight w against M rows of x.
double ref_error(const Weight& w, const std::vector<float>& x, int M, const float* y_dev,
                 int rows) {
  const int K = w.K;
  const int groups = K / w.w.group;
  std::vector<unsigned> codes(static_cast<std::size_t>(rows) * K / 8);
  std::vector<std::uint16_t> sc(static_cast<std::size_t>(rows) * groups), bi(sc.size());
  check(cudaMemcpy(codes.data(), w.w.packed, codes.size() * 4, cudaMemcpyDeviceToHost), "copy");
  check(cudaMemcpy(sc.data(), w.w.scales, sc.size() * 2, cudaMemcpyDeviceToHost), "copy");
  check(cudaMemcpy(bi.data(), w.w.biases, bi.size() * 2, cudaMemcpyDeviceToHost), "copy");
  std::vector<float> y(static_cast<std::size_t>(M) * w.w.n);
  check(cudaMemcpy(y.data(), y_dev, y.size() * 4, cudaMemcpyDeviceToHost), "copy");
  double num = 0, den = 0;
  for (int m = 0; m < M; ++m) {
    for (int r = 0; r < rows; ++r) {
      double acc = 0;
      for (int kk = 0; kk < K; ++kk) {
        const unsigned code =
            (codes[(static_cast<std::size_t>(r) * K + kk) / 8] >> (4 * (kk % 8))) & 15u;
        const std::size_t g = static_cast<std::size_t>(r) * groups + kk / w.w.group;
        acc += (bf16_to_float(sc[g]) * code + bf16_to_float(bi[g])) *
               static_cast<double>(x[static_cast<std::size_t>(m) * K + kk]);
      }
      const double d = y[static_cast<std::size_t>(m) * w.w.n + r] - acc;
      num += d * d;
      den += acc * acc;
    }
  }
  return std::sqrt(num / den);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> row_counts;
  for (int i = 1; i < argc; ++i) row_counts.push_back(std::atoi(argv[i]));
  if (row_counts.empty()) row_counts = {1, 2, 4, 8, 16, 32};
  const int variant_env = std::getenv("QB_VARIANTS") ? std::atoi(std::getenv("QB_VARIANTS")) : 3;
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "props");
  std::printf("device %s, %d SMs\n", prop.name, prop.multiProcessorCount);

  // Copy bound: bytes read + written by a 1 GiB device copy.
  const std::size_t copy_bytes = std::size_t{1} << 30;
  void *ca = nullptr, *cb = nullptr;
  check(cudaMalloc(&ca, copy_bytes), "alloc");
  check(cudaMalloc(&cb, copy_bytes), "alloc");
  check(cudaMemset(ca, 1, copy_bytes), "memset");
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> copy_ms;
  for (int i = 0; i < 10; ++i) {
    cudaEventRecord(e0);
    cudaMemcpyAsync(cb, ca, copy_bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    copy_ms.push_back(ms);
  }
  std::sort(copy_ms.begin(), copy_ms.end());
  const double copy_bw = 2.0 * copy_bytes / (copy_ms[5] * 1e-3);
  std::printf("copy bound %.0f GB/s\n", copy_bw / 1e9);
  cudaFree(ca);
  cudaFree(cb);

  const int group = std::getenv("QB_GROUP") ? std::atoi(std::getenv("QB_GROUP")) : 64;
  const int layers = 32, H = 4096, F = 14336, KV = 1024, V = 128256;
  const int max_m = 64;
  float *x_f = nullptr, *y = nullptr, *partial = nullptr;
  void* x_b = nullptr;
  check(cudaMalloc(&x_f, static_cast<std::size_t>(max_m) * F * 4), "alloc");
  check(cudaMalloc(&x_b, static_cast<std::size_t>(max_m) * F * 2), "alloc");
  check(cudaMalloc(&y, static_cast<std::size_t>(max_m) * V * 4), "alloc");
  const std::size_t partial_floats = (std::size_t{64} << 20) / 4;
  check(cudaMalloc(&partial, partial_floats * 4), "alloc");
  std::vector<float> xh(static_cast<std::size_t>(max_m) * F);
  std::uint64_t st = 88172645463325252ull;
  for (auto& v : xh) {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    v = (static_cast<float>(st >> 40) / 16777216.0f) * 2.0f - 1.0f;
  }
  check(cudaMemcpy(x_f, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice), "copy");
  check(k::to_half(k::WType::kBF16, x_f, x_b, static_cast<std::int64_t>(max_m) * F, nullptr),
        "to_half");

  std::vector<Op> ops;
  unsigned seed = 1;
  std::int64_t token_bytes = 0;
  for (int l = 0; l < layers; ++l) {
    ops.push_back({{make_weight(H, H, group, seed++), make_weight(KV, H, group, seed++),
                    make_weight(KV, H, group, seed++)},
                   H,
                   x_f,
                   {}});
    ops.push_back({{make_weight(H, H, group, seed++)}, H, x_f, {}});
    ops.push_back(
        {{make_weight(F, H, group, seed++), make_weight(F, H, group, seed++)}, H, x_f, {}});
    ops.push_back({{make_weight(H, F, group, seed++)}, F, x_f, {}});
  }
  ops.push_back({{make_weight(V, H, group, seed++)}, H, x_f, {}});
  for (auto& op : ops) {
    for (auto& s : op.segs) token_bytes += s.bytes();
  }
  check(cudaDeviceSynchronize(), "fill");
  std::printf("token: %zu linears, %.1f MB packed (group %d, bf16 scales)\n", ops.size(),
              token_bytes / 1e6, group);

  cudaStream_t stream;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  // y of every segment: one shared buffer (outputs are not read back except
  // for the reference check, done on the last op written).
  auto run_token = [&](int M, int variant) {
    for (auto& op : ops) {
      if (variant == 2 || variant == 6 || variant == 7) {
        for (auto& s : op.segs) {
#ifdef QB_GEMM_VARIANT
          if (variant == 7) {
            check(mlxs::backend::cuda::kgv1::qgemm(x_b, M, op.K, s.w, nullptr, y, partial,
                                                   partial_floats, stream),
                  "variant qgemm");
            continue;
          }
#endif
#ifdef QB_OLD
          if (variant == 6) {
            check(mlxs::backend::cuda::kgold::qgemm(x_b, M, op.K, s.w, nullptr, y, partial,
                                                    partial_floats, stream),
                  "old qgemm");
            continue;
          }
#endif
          check(k::qgemm(x_b, M, op.K, s.w, nullptr, y, partial, partial_floats, stream), "qgemm");
        }
        continue;
      }
      k::QSegment segs[4];
      std::int64_t off = 0;
      for (std::size_t i = 0; i < op.segs.size(); ++i) {
        segs[i] = {op.segs[i].w, nullptr, y + off};
        off += static_cast<std::int64_t>(M) * op.segs[i].w.n;
      }
      const int cnt = static_cast<int>(op.segs.size());
#ifdef QB_OLD
      if (variant == 0) {
        check(mlxs::backend::cuda::kold::qgemv(x_f, M, op.K, segs, cnt, stream), "old qgemv");
        continue;
      }
#endif
#ifdef QB_VARIANTS_EXTRA
      if (variant >= 3 && variant <= 5) {
        auto* fn = variant == 3   ? mlxs::backend::cuda::kv1::qgemv
                   : variant == 4 ? mlxs::backend::cuda::kv2::qgemv
                                  : mlxs::backend::cuda::kv3::qgemv;
        check(fn(x_f, M, op.K, segs, cnt, stream), "variant qgemv");
        continue;
      }
#endif
      check(k::qgemv(x_f, M, op.K, segs, cnt, stream), "qgemv");
    }
  };
  const char* names[] = {"qgemv(old)", "qgemv",    "qgemm",      "variant1",
                         "variant2",   "variant3", "qgemm(old)", "qgemm(v1)"};
  for (int M : row_counts) {
    for (int variant = 0; variant < 8; ++variant) {
      if (!(variant_env & (1 << variant))) continue;
#ifndef QB_VARIANTS_EXTRA
      if (variant >= 3 && variant <= 5) continue;
#endif
#ifndef QB_OLD
      if (variant == 6) continue;
#endif
#ifndef QB_GEMM_VARIANT
      if (variant == 7) continue;
#endif
#ifndef QB_OLD
      if (variant == 0) continue;
#endif
      const bool gemm = variant == 2 || variant == 6 || variant == 7;
      if (!gemm && M > k::kGemvMaxRows) continue;
      if (gemm && (M < 1 || M > k::kQgemmMaxRows)) continue;
      cudaGraph_t graph;
      cudaGraphExec_t exec;
      check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "capture");
      run_token(M, variant);
      check(cudaStreamEndCapture(stream, &graph), "capture");
      check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
      check(cudaGraphLaunch(exec, stream), "launch");
      check(cudaStreamSynchronize(stream), "warmup");
      std::vector<float> ms;
      for (int rep = 0; rep < 15; ++rep) {
        cudaEventRecord(e0, stream);
        cudaGraphLaunch(exec, stream);
        cudaEventRecord(e1, stream);
        check(cudaEventSynchronize(e1), "time");
        float t = 0;
        cudaEventElapsedTime(&t, e0, e1);
        ms.push_back(t);
      }
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2];
      const double bw = token_bytes / (med * 1e-3);
      // Error: the first 64 rows of layer 0's o projection against float64,
      // x as the path takes it (f32 for qgemv, bf16 for qgemm).
      {
        const Op& o = ops[1];
        k::QSegment seg{o.segs[0].w, nullptr, y};
#ifdef QB_OLD
        if (variant == 0)
          check(mlxs::backend::cuda::kold::qgemv(x_f, M, H, &seg, 1, stream), "old");
#endif
        if (variant == 1) check(k::qgemv(x_f, M, H, &seg, 1, stream), "qgemv");
#ifdef QB_VARIANTS_EXTRA
        if (variant >= 3 && variant <= 5) {
          auto* fn = variant == 3   ? mlxs::backend::cuda::kv1::qgemv
                     : variant == 4 ? mlxs::backend::cuda::kv2::qgemv
                                    : mlxs::backend::cuda::kv3::qgemv;
          check(fn(x_f, M, H, &seg, 1, stream), "variant");
        }
#endif
        if (variant == 2) {
          check(k::qgemm(x_b, M, H, o.segs[0].w, nullptr, y, partial, partial_floats, stream),
                "qgemm");
        }
#ifdef QB_OLD
        if (variant == 6) {
          check(mlxs::backend::cuda::kgold::qgemm(x_b, M, H, o.segs[0].w, nullptr, y, partial,
                                                  partial_floats, stream),
                "old qgemm");
        }
#endif
#ifdef QB_GEMM_VARIANT
        if (variant == 7) {
          check(mlxs::backend::cuda::kgv1::qgemm(x_b, M, H, o.segs[0].w, nullptr, y, partial,
                                                 partial_floats, stream),
                "variant qgemm");
        }
#endif
        check(cudaStreamSynchronize(stream), "check run");
      }
      std::vector<float> xr(static_cast<std::size_t>(M) * H);
      for (std::size_t i = 0; i < xr.size(); ++i)
        xr[i] = variant == 2 || variant >= 6 ? round_to_bf16(xh[i]) : xh[i];
      const double err = ref_error(ops[1].segs[0], xr, M, y, 64);
      std::printf(
          "%-11s M=%-3d token %7.3f ms (min %.3f)  %6.0f GB/s  %5.1f%% of copy bound  "
          "err %.1e\n",
          names[variant], M, med, ms.front(), bw / 1e9, 100.0 * bw / copy_bw, err);
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(graph);
    }
  }
  // Per linear kind at the first row count: 32 launches of one kind (each
  // layer's own weights) in a graph, against that kind's bytes.
  if (std::getenv("QB_PER_OP") != nullptr) {
    const int M = row_counts.front();
    const char* kinds[] = {"qkv", "o", "gate/up", "down"};
    for (int variant = 0; variant < 2; ++variant) {
#ifndef QB_OLD
      if (variant == 0) continue;
#endif
      for (int kind = 0; kind < 4; ++kind) {
        std::int64_t bytes = 0;
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "capture");
        for (int l = 0; l < layers; ++l) {
          const Op& op = ops[static_cast<std::size_t>(l * 4 + kind)];
          k::QSegment segs[4];
          std::int64_t off = 0;
          for (std::size_t i = 0; i < op.segs.size(); ++i) {
            segs[i] = {op.segs[i].w, nullptr, y + off};
            off += static_cast<std::int64_t>(M) * op.segs[i].w.n;
            bytes += op.segs[i].bytes();
          }
          const int cnt = static_cast<int>(op.segs.size());
#ifdef QB_OLD
          if (variant == 0) {
            check(mlxs::backend::cuda::kold::qgemv(x_f, M, op.K, segs, cnt, stream), "old");
            continue;
          }
#endif
          check(k::qgemv(x_f, M, op.K, segs, cnt, stream), "qgemv");
        }
        check(cudaStreamEndCapture(stream, &graph), "capture");
        check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
        check(cudaGraphLaunch(exec, stream), "launch");
        std::vector<float> ms;
        for (int rep = 0; rep < 15; ++rep) {
          cudaEventRecord(e0, stream);
          cudaGraphLaunch(exec, stream);
          cudaEventRecord(e1, stream);
          check(cudaEventSynchronize(e1), "time");
          float t = 0;
          cudaEventElapsedTime(&t, e0, e1);
          ms.push_back(t);
        }
        std::sort(ms.begin(), ms.end());
        const double med = ms[ms.size() / 2];
        std::printf("%-11s M=%d %-8s %6.2f us/launch  %6.0f GB/s  %5.1f%% of copy bound\n",
                    names[variant], M, kinds[kind], med * 1e3 / layers, bytes / (med * 1e-3) / 1e9,
                    100.0 * bytes / (med * 1e-3) / copy_bw);
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
      }
    }
  }
  return 0;
}
