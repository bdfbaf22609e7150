// Paged attention over a bf16 (and an e4m3) KV cache against a host reference
// in double over the same cached keys and values: the tensor-core prefill
// kernel for the rows of multi-row sequences, the decode kernels (CUDA cores,
// or tensor cores) for one-row sequences next to them (decode rows of a
// mixed step) and alone, and the per-row kernels alone
// (MLXS_CUDA_PREFILL_TC=0). GQA groups that do and do not divide the
// kernel's 64 (row, head) pairs, several sequences per step, scattered block
// tables, chunks that extend a cached prefix, sliding windows, soft-capping,
// a bidirectional span. Label: gpu.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backend/cuda/cuda_backend.h"
#include "core/half.h"
#include "core/rng.h"
#include "tensor/quant.h"

namespace mlxs::backend {
namespace {

using tensor::DType;
using tensor::Tensor;

struct Case {
  int heads, kv_heads, head_dim, window;
  float softcap;
};

constexpr int kBlock = 16;
constexpr int kPool = 40;  // cache blocks
constexpr int kLayer = 1;  // of 2: the layer stride is exercised

// A value as the cache stores it.
float round_to(DType cache, float x) {
  if (cache == DType::kF8E4M3) return tensor::e4m3_to_f32(tensor::f32_to_e4m3(x));
  return core::bf16_to_f32(core::f32_to_bf16(x));
}

// Which kernels take the step's rows.
// The serving defaults are prefill chunks and decode rows on the tensor
// cores (kDecodeTensor); the CUDA-core decode kernel, which serving no
// longer takes on a 16-bit or e4m3 cache, is tested explicitly.
enum class Kernels {
  kPerRow,           // per-row CUDA-core kernels for every row (f32 math on the cache)
  kCudaCoreDecode,   // prefill chunks on the tensor cores, one-row sequences on CUDA cores
  kDecodeTensor,     // and every one-row sequence on the tensor-core decode kernel
  kDecodeTensorAll,  // every row on the tensor-core decode kernel (MLXS_CUDA_PREFILL_TC=0)
};

std::unique_ptr<cuda::CudaBackend> make_gpu(Kernels kernels) {
  if (kernels == Kernels::kPerRow) {
    setenv("MLXS_CUDA_PREFILL_TC", "0", 1);
    setenv("MLXS_CUDA_DECODE_TC_MIN_ROWS", "1000000", 1);
  } else if (kernels == Kernels::kCudaCoreDecode) {
    setenv("MLXS_CUDA_DECODE_TC_MIN_ROWS", "1000000", 1);
  } else if (kernels == Kernels::kDecodeTensorAll) {
    setenv("MLXS_CUDA_PREFILL_TC", "0", 1);
    setenv("MLXS_CUDA_DECODE_TC_MIN_ROWS", "1", 1);
  } else {
    setenv("MLXS_CUDA_DECODE_TC_MIN_ROWS", "1", 1);
  }
  auto g = cuda::CudaBackend::create(cuda::CudaOptions{});  // serving defaults
  unsetenv("MLXS_CUDA_PREFILL_TC");
  unsetenv("MLXS_CUDA_DECODE_TC_MIN_ROWS");
  EXPECT_TRUE(g.is_ok()) << g.status().to_string();
  return g.is_ok() ? std::move(g).value() : nullptr;
}

// A sequence's block table and the bf16 keys and values it has cached.
struct Seq {
  std::vector<std::int32_t> table;
  std::vector<float> k, v;  // [position][kv_heads * head_dim]
  int len = 0;
};

struct Feed {
  int seq;
  int rows;
  bool span = false;  // rows 1..3 of the chunk see through row 3 (attend_until)
};

// Keys and values of amplitude kScaledAmp (past e4m3's 448) with a
// dequantization scale per (layer, K/V, kv head) that brings them in range.
constexpr float kScaledAmp = 1000.0f;
float test_scale(int layer, int which, int head, int kv_heads) {
  return kScaledAmp / 448.0f *
         (1.0f + 0.3f * static_cast<float>(head) / static_cast<float>(kv_heads) +
          0.1f * static_cast<float>(which) + 0.05f * static_cast<float>(layer));
}

// A RoPE of base 10,000 over the first rot_dim dimensions of each head.
tensor::RopeSpec rope_of(int rot_dim) {
  tensor::RopeSpec spec;
  spec.rot_dim = rot_dim;
  for (int i = 0; i < rot_dim / 2; ++i)
    spec.inv_freq.push_back(std::pow(10000.0, -2.0 * i / rot_dim));
  return spec;
}

// x rotated in place as `rope` turns position `pos` (pairs i, i + rot_dim / 2).
void rotate_host(const tensor::RopeSpec& rope, float* x, int pos) {
  const int half = rope.rot_dim / 2;
  for (int i = 0; i < half; ++i) {
    const double angle = pos * rope.inv_freq[static_cast<std::size_t>(i)];
    const double a = x[i], b = x[i + half];
    x[i] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
    x[i + half] = static_cast<float>(b * std::cos(angle) + a * std::sin(angle));
  }
}

// Runs the steps and returns the worst per-row relative error against the
// reference (sqrt(sum d^2 / sum ref^2) over one row's heads). `scaled`: K and
// V of amplitude kScaledAmp in a cache with per-head scales (test_scale),
// queries of 1 / kScaledAmp. `rot_dim` > 0: the steps go through
// rope_cache_attention with rope_of(rot_dim) (else kv_write, then
// attention) and the reference rotates its queries and keys in double; pure
// decode steps then rotate and append inside the tensor-core decode kernel.
double run_case(const Case& c, Kernels kernels, DType cache = DType::kBF16, bool scaled = false,
                int rot_dim = 0) {
  auto gpu = make_gpu(kernels);
  if (!gpu) return INFINITY;
  const int hd = c.head_dim;
  const int q_width = c.heads * hd;
  const int kv_width = c.kv_heads * hd;
  const int group = c.heads / c.kv_heads;
  const float scale = 2.0f / std::sqrt(static_cast<float>(hd));
  tensor::StepCapacity cap;
  cap.max_tokens = 128;
  cap.max_seqs = 4;
  cap.max_context = 160;
  cap.max_logit_rows = 128;
  cap.max_linear_in = q_width;
  cap.max_linear_out = q_width;
  cap.max_heads = c.heads;
  cap.max_head_dim = hd;
  EXPECT_TRUE(gpu->plan_step(cap).is_ok());
  tensor::KvCacheShape shape{2, kPool, kBlock, c.kv_heads, hd, cache, {}};
  if (scaled) {
    for (int l = 0; l < 2; ++l)
      for (int w = 0; w < 2; ++w)
        for (int h = 0; h < c.kv_heads; ++h)
          shape.scales.push_back(test_scale(l, w, h, c.kv_heads));
  }
  // What the cache reads back for x in (K or V) of kv head h.
  auto cached = [&](float x, int which, int h) {
    if (!scaled || cache != DType::kF8E4M3) return round_to(cache, x);
    const float s = shape.scale(kLayer, which, h);
    return round_to(cache, x / s) * s;
  };
  auto kv_made = gpu->create_kv_storage(shape);
  EXPECT_TRUE(kv_made.is_ok()) << kv_made.status().to_string();
  if (!kv_made) return INFINITY;
  auto kv = std::move(kv_made).value();
  const tensor::RopeSpec rope = rope_of(rot_dim);
  const int rope_id = rot_dim > 0 ? gpu->register_rope(rope) : -1;

  // Scattered, disjoint block tables: A 9 blocks, B 9, C 4.
  std::vector<std::int32_t> perm(kPool);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(5));
  std::vector<Seq> seqs(3);
  seqs[0].table.assign(perm.begin(), perm.begin() + 9);
  seqs[1].table.assign(perm.begin() + 9, perm.begin() + 18);
  seqs[2].table.assign(perm.begin() + 18, perm.begin() + 22);

  core::Xoshiro256 rng(17);
  auto random = [&](std::size_t n, float amp) {
    std::vector<float> out(n);
    for (auto& x : out) x = (rng.uniform() * 2.0f - 1.0f) * amp;
    return out;
  };
  auto buffer = [&](std::size_t floats) { return gpu->allocate(floats * 4).value(); };

  double worst = 0.0;
  // Prefill of three sequences (C with a bidirectional span); then chunks
  // extending a cached prefix beside decode rows, with T <= 64 (key splits
  // for the one-row sequences where the split length allows) and T > 64 (one
  // split); a lone chunk; a pure decode step (its first 64-key tile loaded
  // before the kernel's dependency wait; split into 16-key ranges merged in
  // the launch under MLXS_CUDA_DECODE_SPLIT_MIN_KEYS=16); two more pure
  // decode steps, which read back what the one before appended.
  const std::vector<std::vector<Feed>> steps = {{{0, 37}, {1, 21}, {2, 5, true}},
                                                {{0, 1}, {1, 30}, {2, 1}},
                                                {{0, 1}, {1, 70}},
                                                {{2, 40}},
                                                {{0, 1}, {1, 1}, {2, 1}},
                                                {{2, 1}, {0, 1}},
                                                {{1, 1}, {0, 1}, {2, 1}}};
  for (std::size_t si = 0; si < steps.size(); ++si) {
    std::vector<std::int32_t> tokens, positions, rows, until;
    std::vector<tensor::SeqSlice> slices;
    std::vector<int> row_seq;
    bool spans = false;
    for (const Feed& f : steps[si]) {
      Seq& s = seqs[static_cast<std::size_t>(f.seq)];
      slices.push_back({static_cast<std::int32_t>(tokens.size()), f.rows, s.len + f.rows,
                        s.table.data(), static_cast<std::int32_t>(s.table.size())});
      for (int i = 0; i < f.rows; ++i) {
        const int pos = s.len + i;
        rows.push_back(static_cast<std::int32_t>(tokens.size()));
        tokens.push_back(1);
        positions.push_back(pos);
        row_seq.push_back(f.seq);
        until.push_back(f.span && i >= 1 && i <= 3 ? s.len + 4 : pos + 1);
      }
      spans = spans || f.span;
    }
    const auto T = static_cast<std::int64_t>(tokens.size());
    const float amp = scaled ? kScaledAmp : 1.0f;
    auto q = random(static_cast<std::size_t>(T * q_width), 1.0f / amp);
    auto k = random(static_cast<std::size_t>(T * kv_width), amp);
    const auto v = random(static_cast<std::size_t>(T * kv_width), amp);
    auto qb = buffer(q.size()), kb = buffer(k.size()), vb = buffer(v.size()), ob = buffer(q.size());
    const Tensor qt(qb->data(), DType::kF32, {T, q_width}, tensor::Device::kCuda);
    const Tensor kt(kb->data(), DType::kF32, {T, kv_width}, tensor::Device::kCuda);
    const Tensor vt(vb->data(), DType::kF32, {T, kv_width}, tensor::Device::kCuda);
    const Tensor ot(ob->data(), DType::kF32, {T, q_width}, tensor::Device::kCuda);
    EXPECT_TRUE(gpu->upload(q.data(), qt).is_ok());
    EXPECT_TRUE(gpu->upload(k.data(), kt).is_ok());
    EXPECT_TRUE(gpu->upload(v.data(), vt).is_ok());
    tensor::StepBatch batch{tokens, positions, slices, rows};
    if (spans) batch.attend_until = until;
    gpu->begin_step(batch);
    const tensor::AttentionSpec spec{c.heads, c.kv_heads, hd, scale, c.softcap, c.window};
    if (rot_dim > 0) {
      gpu->rope_cache_attention(qt, kt, vt, hd, rope_id, *kv, kLayer, spec, ot);
    } else {
      gpu->kv_write(*kv, kLayer, kt, vt);
      gpu->attention(*kv, kLayer, qt, spec, ot);
    }
    gpu->end_step();
    // The reference's queries and keys, rotated as the step's were.
    if (rot_dim > 0) {
      for (std::int64_t t = 0; t < T; ++t) {
        const int pos = positions[static_cast<std::size_t>(t)];
        for (int h = 0; h < c.heads; ++h) rotate_host(rope, q.data() + (t * c.heads + h) * hd, pos);
        for (int h = 0; h < c.kv_heads; ++h) {
          rotate_host(rope, k.data() + (t * c.kv_heads + h) * hd, pos);
        }
      }
    }
    std::vector<float> got(q.size());
    const core::Status copied = gpu->copy_to_host(ot, got.data());
    EXPECT_TRUE(copied.is_ok()) << "step " << si << ": " << copied.to_string();

    // The cache now holds this step's rows, rounded to bf16.
    for (std::int64_t t = 0; t < T; ++t) {
      Seq& s = seqs[static_cast<std::size_t>(row_seq[static_cast<std::size_t>(t)])];
      for (int i = 0; i < kv_width; ++i) {
        s.k.push_back(cached(k[static_cast<std::size_t>(t * kv_width + i)], 0, i / hd));
        s.v.push_back(cached(v[static_cast<std::size_t>(t * kv_width + i)], 1, i / hd));
      }
      ++s.len;
    }
    for (std::int64_t t = 0; t < T; ++t) {
      const auto ut = static_cast<std::size_t>(t);
      const Seq& s = seqs[static_cast<std::size_t>(row_seq[ut])];
      const int pos = positions[ut];
      const int lo = c.window > 0 ? std::max(0, pos - c.window + 1) : 0;
      const int hi = std::max(pos + 1, until[ut]);
      double num = 0.0, den = 0.0;
      for (int h = 0; h < c.heads; ++h) {
        const float* qr = q.data() + (t * c.heads + h) * hd;
        const int g = h / group;
        std::vector<double> p;
        double top = -INFINITY;
        for (int j = lo; j < hi; ++j) {
          const float* kr = s.k.data() + (static_cast<std::size_t>(j) * c.kv_heads + g) * hd;
          double dot = 0.0;
          for (int d = 0; d < hd; ++d) dot += static_cast<double>(qr[d]) * kr[d];
          double sc = dot * scale;
          if (c.softcap > 0.0f) sc = c.softcap * std::tanh(sc / c.softcap);
          p.push_back(sc);
          top = std::max(top, sc);
        }
        double total = 0.0;
        for (double& x : p) total += (x = std::exp(x - top));
        for (int d = 0; d < hd; ++d) {
          double ref = 0.0;
          for (int j = lo; j < hi; ++j) {
            ref += p[static_cast<std::size_t>(j - lo)] *
                   s.v[(static_cast<std::size_t>(j) * c.kv_heads + g) * hd + d];
          }
          ref /= total;
          const double diff = got[static_cast<std::size_t>((t * c.heads + h) * hd + d)] - ref;
          num += diff * diff;
          den += ref * ref;
        }
      }
      const double err = std::sqrt(num / std::max(den, 1e-30));
      EXPECT_TRUE(std::isfinite(err)) << "step " << si << " row " << t;
      worst = std::max(worst, std::isfinite(err) ? err : INFINITY);
    }
  }
  return worst;
}

const std::vector<Case> kCases = {
    {8, 2, 128, 0, 0.0f},   // Llama-8B's group of 4
    {8, 2, 128, 24, 0.0f},  // a window that crosses key tiles and blocks
    {8, 2, 64, 0, 0.0f},    // Llama-1B's head size
    {12, 2, 64, 24, 5.0f},  // a group of 6: 10 rows per tile, 4 pairs idle
    {8, 4, 256, 24, 5.0f},  // Gemma's head size, windowed and soft-capped
    {4, 4, 32, 0, 0.0f},    // no GQA: 64 rows per tile
    {4, 2, 16, 0, 5.0f},    // the tiny fixtures' head size
};

// The tensor-core decode kernel also takes groups of 16 (its whole M tile;
// the CUDA-core kernels stop at 8).
std::vector<Case> decode_cases() {
  std::vector<Case> cases = kCases;
  cases.push_back({16, 1, 64, 0, 0.0f});
  cases.push_back({16, 2, 128, 40, 0.0f});  // a group of 8: the transposed e4m3 kernel's whole N
  cases.push_back({16, 2, 128, 0, 0.0f});   // the same without a window: its tensor copies
  cases.push_back({32, 2, 128, 0, 0.0f});   // a group of 16: past it (the untransposed kernel)
  return cases;
}

std::string case_name(const Case& c) {
  return fmt::format("heads {} kv {} dim {} window {} softcap {}", c.heads, c.kv_heads, c.head_dim,
                     c.window, c.softcap);
}

// Every case on `kernels` (a bf16 cache) within `bound`; `label` prints
// each case's worst row.
void expect_cases(const std::vector<Case>& cases, Kernels kernels, double bound,
                  const char* label = nullptr) {
  for (const Case& c : cases) {
    const double worst = run_case(c, kernels);
    EXPECT_LT(worst, bound) << case_name(c);
    if (label != nullptr) std::printf("%s %s: %.3g\n", label, case_name(c).c_str(), worst);
  }
}

// An e4m3 cache (`scaled`: with per-head scales) through every kernel that
// reads it: the tensor cores (f16 Q and P) within 1e-2, the CUDA-core decode
// kernel too, the per-row kernels (f32 math on the same values) within 1e-4.
void expect_every_fp8_kernel(bool scaled, const char* label) {
  for (const Case& c : decode_cases()) {
    const std::string name = case_name(c);
    const double tensor = run_case(c, Kernels::kDecodeTensor, DType::kF8E4M3, scaled);
    EXPECT_LT(tensor, 1e-2) << name;
    std::printf("%s, tensor cores: %s: %.3g\n", label, name.c_str(), tensor);
    if (c.heads / c.kv_heads > 8) continue;  // the CUDA-core kernels stop at groups of 8
    EXPECT_LT(run_case(c, Kernels::kCudaCoreDecode, DType::kF8E4M3, scaled), 1e-2) << name;
    EXPECT_LT(run_case(c, Kernels::kPerRow, DType::kF8E4M3, scaled), 1e-4) << name;
  }
}

// bf16 Q and P on the tensor cores: a relative rounding of 2^-9 each, which
// the softmax average shrinks; stated bound 1e-2 per row (a wrong mask or
// tile gives errors of order 1). The one-row sequences beside the chunks
// take the CUDA-core decode kernel here (f32 math on the same cache).
TEST(CudaPrefillAttention, TensorCoresMatchReference) {
  expect_cases(kCases, Kernels::kCudaCoreDecode, 1e-2, "prefill attention (tensor cores)");
}

// The prefill kernel's earlier 64-key tiles (MLXS_CUDA_PREFILL_KEYS=64; the
// default is 32) on bf16 and e4m3 caches, within the tensor cores' bound; a
// wrong row or key mapping is of order 1.
TEST(CudaPrefillAttention, WideKeyTilesMatchReference) {
  setenv("MLXS_CUDA_PREFILL_KEYS", "64", 1);
  for (const Case& c : kCases) {
    SCOPED_TRACE(case_name(c));
    EXPECT_LT(run_case(c, Kernels::kCudaCoreDecode), 1e-2);
    EXPECT_LT(run_case(c, Kernels::kCudaCoreDecode, DType::kF8E4M3, true), 1e-2);
  }
  unsetenv("MLXS_CUDA_PREFILL_KEYS");
  EXPECT_TRUE(make_gpu(Kernels::kDecodeTensor) != nullptr);  // back to 32-key tiles
}

// Decode rows on the tensor cores (bf16 Q and P, as in prefill): every
// one-row sequence of every step, split or not, beside prefill chunks or not.
TEST(CudaDecodeAttention, TensorCoresMatchReference) {
  expect_cases(decode_cases(), Kernels::kDecodeTensor, 1e-2, "decode attention (tensor cores)");
}

// The per-row kernels read the same bf16 cache in f32 math: rounding only.
TEST(CudaPrefillAttention, RowKernelsOnBf16Cache) {
  expect_cases(kCases, Kernels::kPerRow, 1e-4);
}

// The e4m3 cache (MLXS_CUDA_KV_FP8) against the reference over the values as
// e4m3 stores them. Every code is exact in f16, which the tensor-core
// kernels compute with, so their bound is the 16-bit one.
TEST(CudaFp8KvAttention, EveryKernelMatchesReference) {
  expect_every_fp8_kernel(false, "fp8 cache");
}

// Every decode case on the tensor cores with `var` set to each of `values`
// (the e4m3 decode paths' A/B switches), scaled cache, within 1e-2.
void expect_decode_with_env(const char* var, std::initializer_list<const char*> values) {
  for (const char* value : values) {
    setenv(var, value, 1);
    for (const Case& c : decode_cases()) {
      const double worst = run_case(c, Kernels::kDecodeTensor, DType::kF8E4M3, true);
      EXPECT_LT(worst, 1e-2) << var << "=" << value << ": " << case_name(c);
    }
    unsetenv(var);
  }
}

// The e4m3 decode paths that widen through shared memory (all rows, or V's
// only), kept for A/B runs (MLXS_CUDA_FP8_WIDEN), against the same reference.
TEST(CudaFp8KvAttention, WidenedDecodePathsMatchReference) {
  expect_decode_with_env("MLXS_CUDA_FP8_WIDEN", {"all", "values"});
  // The kernel that converts K and V from the codes at three blocks per SM
  // (before the lean one, which the other tests run).
  expect_decode_with_env("MLXS_CUDA_FP8_LEAN", {"0"});
  // The untransposed kernel where the transposed one fits (groups of up to 8).
  expect_decode_with_env("MLXS_CUDA_FP8_KEY_ROWS", {"0"});
  // The transposed kernel copying its code rows as cp.async chunks, not
  // tensor copies.
  expect_decode_with_env("MLXS_CUDA_FP8_TMA", {"0"});
  // The next backend created takes the default again.
  EXPECT_LT(run_case(kCases[0], Kernels::kDecodeTensor, DType::kF8E4M3, true), 1e-2);
}

// With the prefill kernel off, the rows of prefill chunks go to the decode
// kernel too, each row causal over its sequence: keys that the same step
// writes (the chunk's) must not be among the tiles it loads before its
// dependency wait.
TEST(CudaDecodeAttention, ChunkRowsOnTheDecodeKernelMatchReference) {
  expect_cases(decode_cases(), Kernels::kDecodeTensorAll, 1e-2);
}

// Short key splits (16 keys: up to 8 per one-row sequence here, merged by
// the last block of each (row, KV head)) on the bf16 and the e4m3 cache;
// the serving default splits only past 256 keys.
TEST(CudaDecodeAttention, SplitKeysMergeToReference) {
  setenv("MLXS_CUDA_DECODE_SPLIT_MIN_KEYS", "16", 1);
  expect_cases(decode_cases(), Kernels::kDecodeTensor, 1e-2);
  unsetenv("MLXS_CUDA_DECODE_SPLIT_MIN_KEYS");
  expect_decode_with_env("MLXS_CUDA_DECODE_SPLIT_MIN_KEYS", {"16"});
}

// Block sizes that are not a power of two locate keys by division
// (KvLayout::block_shift -1); MLXS_CUDA_KV_SHIFT=0 takes that path at 16.
TEST(CudaDecodeAttention, KeysLocatedByDivisionMatchReference) {
  setenv("MLXS_CUDA_KV_SHIFT", "0", 1);
  expect_cases(decode_cases(), Kernels::kDecodeTensor, 1e-2);
  expect_cases(kCases, Kernels::kPerRow, 1e-4);
  unsetenv("MLXS_CUDA_KV_SHIFT");
}

// An e4m3 cache with per-(layer, K/V, kv head) scales (a checkpoint's k_scale
// and v_scale): values of amplitude 1,000 that unscaled codes would clip at
// 448 read back as code * scale in every kernel, within the same bounds.
TEST(CudaFp8KvAttention, PerHeadScalesEveryKernel) {
  expect_every_fp8_kernel(true, "scaled fp8 cache");
}

// RoPE and the cache append inside the tensor-core decode kernel (pure decode
// steps in one key split; mixed and split steps run rope_and_cache, then
// attention): every case on the bf16 and the e4m3 cache (scaled), whole and
// partial rotation, unsplit and in 16-key splits, and the unfolded path
// (MLXS_CUDA_ROPE_FOLD=0) through the same op, against the rotated reference.
TEST(CudaDecodeAttention, RopeFoldedIntoDecodeKernelMatchesReference) {
  for (const char* split : {"", "16"}) {
    if (*split != '\0') setenv("MLXS_CUDA_DECODE_SPLIT_MIN_KEYS", split, 1);
    for (const Case& c : decode_cases()) {
      for (const int rot : {c.head_dim, c.head_dim / 2}) {
        const std::string name = fmt::format("{} rot {} split {}", case_name(c), rot, split);
        EXPECT_LT(run_case(c, Kernels::kDecodeTensor, DType::kBF16, false, rot), 1e-2) << name;
        EXPECT_LT(run_case(c, Kernels::kDecodeTensor, DType::kF8E4M3, true, rot), 1e-2) << name;
      }
    }
    unsetenv("MLXS_CUDA_DECODE_SPLIT_MIN_KEYS");
  }
  setenv("MLXS_CUDA_ROPE_FOLD", "0", 1);
  for (const Case& c : decode_cases()) {
    EXPECT_LT(run_case(c, Kernels::kDecodeTensor, DType::kBF16, false, c.head_dim), 1e-2)
        << case_name(c) << " unfolded";
  }
  unsetenv("MLXS_CUDA_ROPE_FOLD");
}

// Scales of the wrong count are refused; a bf16 cache ignores them.
TEST(CudaFp8KvAttention, ScalesAreChecked) {
  auto gpu = cuda::CudaBackend::create(cuda::CudaOptions{});
  ASSERT_TRUE(gpu.is_ok());
  tensor::KvCacheShape shape{2, 4, kBlock, 2, 64, DType::kF8E4M3, {}};
  shape.scales.assign(7, 1.0f);
  const auto bad = (*gpu)->create_kv_storage(shape);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), core::ErrorCode::kInvalidParams);
  shape.scales.assign(8, 2.0f);
  EXPECT_TRUE((*gpu)->create_kv_storage(shape).is_ok());
  shape.dtype = DType::kBF16;
  EXPECT_TRUE((*gpu)->create_kv_storage(shape).is_ok());
}

// Serving caches are bf16 (half the bytes per token); exact_f32 keeps f32.
TEST(CudaPrefillAttention, KvDtypeFollowsOptions) {
  auto serving = cuda::CudaBackend::create(cuda::CudaOptions{});
  ASSERT_TRUE(serving.is_ok());
  EXPECT_EQ((*serving)->kv_dtype(), DType::kBF16);
  cuda::CudaOptions exact;
  exact.exact_f32 = true;
  auto parity = cuda::CudaBackend::create(exact);
  ASSERT_TRUE(parity.is_ok());
  EXPECT_EQ((*parity)->kv_dtype(), DType::kF32);
  cuda::CudaOptions fp8;
  fp8.kv_dtype = DType::kF8E4M3;
  auto small = cuda::CudaBackend::create(fp8);
  ASSERT_TRUE(small.is_ok());
  EXPECT_EQ((*small)->kv_dtype(), DType::kF8E4M3);
  fp8.exact_f32 = true;  // parity runs stay f32 whatever else is asked
  auto forced = cuda::CudaBackend::create(fp8);
  ASSERT_TRUE(forced.is_ok());
  EXPECT_EQ((*forced)->kv_dtype(), DType::kF32);
}

}  // namespace
}  // namespace mlxs::backend
