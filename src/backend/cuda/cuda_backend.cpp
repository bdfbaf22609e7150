#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "backend/cuda/cuda_encoder_ops.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_bind.h"
#include "backend/cuda/gemv_gated.h"
#include "backend/cuda/kernel_act.h"
#include "backend/cuda/kernels_fp8.h"
#include "backend/cuda/kv_rows_map.h"
#include "backend/cuda/peer_exchange.h"
#include "core/half.h"

namespace mlxs::backend::cuda {
namespace {

using core::ErrorCode;
using core::Status;
using tensor::DType;
using tensor::Tensor;

Status cuda_status(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::ok();
  return core::make_error(ErrorCode::kGenerationError, "CUDA {}: {}", what,
                          cudaGetErrorString(err));
}

Status lt_status(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::ok();
  return core::make_error(ErrorCode::kGenerationError, "cuBLASLt {}: status {}", what,
                          static_cast<int>(st));
}

// Weights reach the kernels only as f32, f16 or bf16 (import_tensor checks);
// a KV cache also as e4m3.
k::WType wtype(DType d) {
  if (d == DType::kF16) return k::WType::kF16;
  if (d == DType::kBF16) return k::WType::kBF16;
  if (d == DType::kF8E4M3) return k::WType::kFP8E4M3;
  return k::WType::kF32;
}

// The kernels' view of a packed affine weight imported by import_quantized.
k::AffineWeight affine_view(const tensor::Weight& w) {
  k::AffineWeight a{};
  a.packed = w.w.data;
  a.scales = w.quant.scales.data;
  a.biases = w.quant.biases.data;
  a.param_type = wtype(w.quant.scales.dtype);
  a.bits = w.quant.bits;
  a.group = static_cast<int>(w.quant.group_size);
  a.n = static_cast<int>(w.out_features());
  return a;
}

// The kernels' view of an FP8 weight imported by import_quantized (scales
// widened to f32 there).
k::Fp8Weight fp8_view(const tensor::Weight& w) {
  k::Fp8Weight f{};
  f.codes = static_cast<const std::uint8_t*>(w.w.data);
  f.scales = w.quant.scales.as<float>();
  f.block_rows = static_cast<int>(w.quant.block_rows);
  f.group = static_cast<int>(w.quant.group_size);
  f.n = static_cast<int>(w.out_features());
  return f;
}

bool is_fp8(const tensor::Weight& w) {
  return w.quant.format == tensor::QuantFormat::kFp8;
}

// An A/B switch of the environment: VAR=0 turns the feature off.
bool switched_off(const char* var) {
  const char* env = std::getenv(var);
  return env != nullptr && std::string(env) == "0";
}

// Vector loads (float4, cuBLASLt's bias epilogue) need 16-byte alignment.
bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// Attention over long contexts splits the keys (flash-decoding) while the
// batch is small enough to leave SMs idle otherwise.
constexpr std::size_t kSplitBatch = 64;
constexpr std::size_t kMaxSplits = 64;
constexpr int kSplitMinKeys = 64;
// The decode kernels (MLXS_CUDA_DECODE_KERNELS, on by default) split the
// keys into blocks of kDecodeSplitMinKeys (MLXS_CUDA_DECODE_SPLIT_MIN_KEYS),
// doubled while rows x splits passes kDecodeSplitRows, up to
// kDecodeSplitMaxKeys (MLXS_CUDA_DECODE_SPLIT_MAX_KEYS), and past it only to
// stay within kMaxSplits. H100, Llama-3.1-8B shapes, same calls:
// - 256 keys against 16 at least: batch 1 +4.5% decode tok/s at 32-token
//   prompts, +2.6% at 1k, +1.0% at 4k; batch 8 +3.4% at 32; the 1B +6.1% at
//   batch 1 and +5.9% at 8. The tensor-core kernel reads 64-key tiles, so
//   16-key splits loaded four times the keys they used, and each split's
//   partial is one more for the last block to merge.
// - 512 keys at most against 256: batch 8 at 4k +2.7% (1B +7.3%), batch 32
//   +2.5% at 1k and +5.3% at 4k (1B +5.1%, +8.3%), batch 8 at 1k -1.5% (1B
//   -2.3%), batch 1 unchanged. 1024 at most: +8.0% (1B +10.7%) at batch 32
//   and 4k, but +1.9% (both) at batch 32 and 1k, and -1.4% / -2.8% at
//   batch 8 and 1k.
constexpr int kDecodeSplitMinKeys = 256;
constexpr int kDecodeSplitMaxKeys = 512;
constexpr int kDecodeSplitRows = 32;
// Decode steps of this many rows or more run attention on the tensor cores
// (kernels_attention_decode_tc.cu): every step, on bf16 and e4m3 caches. At
// 1k-token contexts on an H100 it beat the CUDA-core kernel at every batch
// measured (1 row +9%, 4 +11%, 8 +22%, 32 +30%, 64 +37%, 128 +77%, 256
// +84% decode tok/s, Llama-3.1-8B shapes, same calls), and matched it at
// 32-token contexts (batch 1-8 within 1%).
constexpr int kDecodeTcMinRows = 1;
// Steps of up to this many rows rotate and cache with a block per (row,
// head); larger ones (prefill chunks) with a block per row: per (row, head),
// each row's double sincos was redone for every head, about 100 us of a
// 2,048-row Llama-8B layer against 43 (H100).
constexpr int kRopeHeadMaxRows = 256;
// GEMMs of a multiple of this many rows time cuBLASLt's candidates
// (pick_algo): whole prefill chunks, whose shapes recur. Other row counts
// keep the heuristic's choice: a serving mix of chunk and decode rows makes
// a new shape of nearly every step, and tuning each (about 30 runs of each
// of a layer's GEMMs) would cost more than the 2-3% it wins; decode-sized
// steps are captured into graphs, where nothing can be timed.
constexpr int kGemmTuneRows = 256;
// Candidates asked of cuBLASLt's heuristic (it offered at most 8 for every
// Llama-8B shape on the H200), and the most MLXS_GEMM_CANDIDATES may ask.
constexpr int kGemmCandidates = 8;
constexpr int kMaxGemmCandidates = 64;
// Rows up to which q/k/v stacked at load run as one GEMM and a split pass.
// H200, Llama-8B FP8 at 1k contexts, same call: 64 rows +9.3% decode tok/s
// (two GEMMs' fixed latency saved a layer); 512 rows -0.5% (the split's
// pass over the product costs what the narrow GEMMs lost); prefill chunks
// -4.5%.
constexpr std::int64_t kStackMaxRows = 256;
// FP8 GEMMs of up to this many rows whose 128 x 128 output tiles would fill
// under half the SMs run as up to kSplitKMax batched K slices (cuBLASLt's
// strided batches over one weight) and a reduce: Nsight on a 64-row Llama-8B
// step (H200) had the down projection on 32 CTAs, 50 us for 59 MB, and o's
// on 32, 20 us for 17 MB. Slices keep at least kSplitKMinDepth columns;
// outputs up to kSplitKMaxCols wide (the scratch's).
constexpr std::int64_t kSplitKMaxRows = 256;
constexpr int kSplitKMax = 4;
constexpr std::int64_t kSplitKMinDepth = 512;
constexpr std::int64_t kSplitKMaxCols = 8192;

int next_pow2(int v) {
  int p = 1;
  while (p < v) p <<= 1;
  return p;
}

class CudaBuffer final : public tensor::DeviceBuffer {
 public:
  CudaBuffer(void* p, std::size_t n) : p_(p), n_(n) {}
  ~CudaBuffer() override { cudaFree(p_); }
  void* data() const override { return p_; }
  std::size_t size() const override { return n_; }

 private:
  void* p_;
  std::size_t n_;
};

class CudaKvStorage final : public tensor::KvStorage {
 public:
  // `shift_blocks`: kernels locate keys by shift and mask where the block
  // size is a power of two (MLXS_CUDA_KV_SHIFT=0: by division, A/B runs).
  CudaKvStorage(const tensor::KvCacheShape& shape, std::unique_ptr<CudaBuffer> buffer,
                std::unique_ptr<CudaBuffer> scales, bool shift_blocks)
      : shape_(shape), buffer_(std::move(buffer)), scales_(std::move(scales)) {
    layout_.base = buffer_->data();
    layout_.scales = scales_ ? static_cast<const float*>(scales_->data()) : nullptr;
    layout_.type = wtype(shape.dtype);
    layout_.block_size = shape.block_size;
    const auto bs = static_cast<unsigned>(shape.block_size);
    layout_.block_shift = shift_blocks && std::has_single_bit(bs) ? std::countr_zero(bs) : -1;
    layout_.kv_heads = shape.kv_heads;
    layout_.head_dim = shape.head_dim;
    layout_.block_stride =
        static_cast<std::int64_t>(shape.kv_heads) * shape.block_size * shape.head_dim;
    layout_.kv_stride = layout_.block_stride * shape.blocks;
    layout_.layer_stride = layout_.kv_stride * 2;
    if (layout_.type == k::WType::kFP8E4M3 && shape.block_size % kKvRowsBox == 0) {
      layout_.rows_map = make_kv_rows_map(buffer_->data(), buffer_->size(), shape.head_dim);
    }
  }
  ~CudaKvStorage() override { free_kv_rows_map(layout_.rows_map); }
  CudaKvStorage(const CudaKvStorage&) = delete;
  CudaKvStorage& operator=(const CudaKvStorage&) = delete;
  const tensor::KvCacheShape& shape() const override { return shape_; }
  const k::KvLayout& layout() const { return layout_; }

 private:
  tensor::KvCacheShape shape_;
  std::unique_ptr<CudaBuffer> buffer_;
  std::unique_ptr<CudaBuffer> scales_;  // e4m3 caches with scales only
  k::KvLayout layout_{};
};

struct GemmKey {
  int m, n, k, type, ldc;
  bool bias;
  bool operator<(const GemmKey& o) const {
    return std::tie(m, n, k, type, ldc, bias) < std::tie(o.m, o.n, o.k, o.type, o.ldc, o.bias);
  }
};

struct GemmPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
  bool bias_epilogue = false;  // the bias is added by the GEMM itself
  bool outer_scales = false;   // FP8: the row and column scales applied by the GEMM itself
};

}  // namespace

struct CudaBackend::Impl {
  CudaOptions options;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* lt_workspace = nullptr;
  std::size_t lt_workspace_bytes = 32u << 20;
  // Timing of GEMM candidates (pick_algo); MLXS_GEMM_AUTOTUNE=0 turns it off.
  bool gemm_autotune = true;
  // How many of the heuristic's candidates are timed (MLXS_GEMM_CANDIDATES,
  // at most kMaxGemmCandidates).
  int gemm_candidates = kGemmCandidates;
  int gemm_tune_rows = kGemmTuneRows;  // MLXS_GEMM_TUNE_ROWS
  bool gemm_tune_log = false;          // MLXS_GEMM_TUNE_LOG=1: each tuned shape's times on stderr
  cudaEvent_t tune_start = nullptr;
  cudaEvent_t tune_stop = nullptr;
  std::string device_name;
  int sm_count = 0;
  Status error;

  tensor::StepCapacity capacity;
  std::vector<std::unique_ptr<tensor::DeviceBuffer>> owned;
  struct Rope {
    tensor::RopeSpec spec;
    double* inv_freq = nullptr;    // device
    std::int32_t* axis = nullptr;  // device, per frequency (M-RoPE), else null
  };
  bool multi_axis_rope = false;  // some rope reads StepMeta::rope_positions
  std::unique_ptr<CudaEncoderOps> encoder;
  std::vector<Rope> ropes;
  std::map<GemmKey, GemmPlan> gemm_plans;

  // Step metadata: pinned host blocks mirrored by one device block. Two host
  // blocks, used in turn: with the engine's overlap mode a step is written
  // while the previous step's upload may still wait in the stream.
  std::int32_t* meta_host = nullptr;  // 2 x meta_ints
  int meta_slot = 0;
  float* logits_host = nullptr;  // pinned, max_logit_rows x widest output
  std::size_t logits_host_floats = 0;
  std::int32_t* meta_dev = nullptr;
  std::size_t meta_ints = 0;
  std::size_t off_tokens = 0, off_positions = 0, off_row_seq = 0, off_seq_table = 0,
              off_logit_rows = 0, off_tables = 0, tables_capacity = 0;
  // Multimodal spans, after the block tables' capacity: uploaded by a second
  // copy only in steps that carry them.
  std::size_t off_rope_positions = 0, off_attend_until = 0;
  k::StepMeta meta{};
  int step_tokens = 0;
  int step_logit_rows = 0;
  // finish_logits: structured-output masks staged in pinned memory ([R rows
  // of mask_words], then the R row indices), and the rows' greedy ids.
  std::uint32_t* masks_host = nullptr;
  std::uint32_t* masks_dev = nullptr;
  std::size_t mask_words = 0;
  std::size_t max_rows = 0;
  std::int32_t* argmax_host = nullptr;  // the rows' tokens (argmax or draw)
  std::int32_t* argmax_dev = nullptr;   // also where placeholder tokens are read
  cudaEvent_t logits_ready = nullptr;   // recorded by launch_logits
  // The device timeline (device_timeline): timing events where each step's
  // work begins (begin_step, before a graph capture starts) and where its
  // logits are ready (launch_logits), four steps deep (the engine queues
  // step n + 1 before it collects step n); collect_logits reads the oldest.
  struct StepMarks {
    cudaEvent_t begin = nullptr, end = nullptr;
  };
  std::array<StepMarks, 4> marks{};
  std::uint64_t marks_begun = 0, marks_ended = 0, marks_read = 0;
  tensor::Backend::DeviceTimeline timeline;
  bool logits_launched = false;
  k::RowDraw* draws_host = nullptr;  // pinned, max_rows
  k::RowDraw* draws_dev = nullptr;
  float* draw_weights = nullptr;  // max_rows x widest output

  // MLXS_CUDA_OP_TIMING=1: every op is timed with events (graphs off) and a
  // table of where the time went is logged when the backend is destroyed.
  bool op_timing = false;
  std::map<std::string, std::pair<double, long>> op_ms;
  cudaEvent_t ev_start = nullptr, ev_stop = nullptr;
  void time_op(const char* name, bool done) {
    if (!op_timing) return;
    if (!done) {
      cudaEventRecord(ev_start, stream);
      return;
    }
    cudaEventRecord(ev_stop, stream);
    cudaEventSynchronize(ev_stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, ev_start, ev_stop);
    // Decode steps apart from steps holding a prompt chunk: a long prefill
    // would otherwise hide where a batched decode step's time goes.
    auto& slot = op_ms[std::string(step_multi_rows ? "prefill " : "decode ") + name];
    slot.first += ms;
    ++slot.second;
  }
  // Ops so far (each public op's OpScope counts one): held_x is good for
  // the op right after the norm that wrote it, and no other.
  std::uint64_t op_seq = 0;
  // One public op: counted in op_seq, and timed under MLXS_CUDA_OP_TIMING.
  struct OpScope {
    Impl* m;
    const char* name;
    OpScope(Impl* impl, const char* n) : m(impl), name(n) {
      ++m->op_seq;
      m->time_op(name, false);
    }
    ~OpScope() { m->time_op(name, true); }
    OpScope(const OpScope&) = delete;
    OpScope& operator=(const OpScope&) = delete;
  };

  // MLXS_CUDA_DECODE_KERNELS=0 goes back to the earlier decode-step kernels
  // (per-row RoPE, warp-per-key attention with a merge launch, the norm and
  // activation launched after the previous kernel ends), for A/B runs.
  bool decode_kernels = true;
  // MLXS_CUDA_FUSED_MLP=0: one-row gated MLPs run the activation as its own
  // pass again (A/B runs).
  bool fused_mlp = true;
  // MLXS_CUDA_ROPE_FOLD=0: pure decode steps run RoPE and the cache append
  // as their own kernel again instead of inside decode attention (A/B runs).
  bool rope_fold = true;
  // MLXS_CUDA_PREFILL_TC=0: prefill rows of a bf16 cache go to the per-row
  // kernels too instead of the tensor-core kernel (A/B runs).
  bool prefill_tc = true;
  // MLXS_CUDA_ACT_HALF=0: the gated activation writes f32 and the down
  // projection converts it, as before (A/B runs).
  bool act_half = true;
  // MLXS_CUDA_ACT_QUANT=0: before an FP8 GEMM's down projection the
  // activation writes f32 and a quantize pass reads it (A/B runs).
  bool fused_act_quant = true;
  // FP8 gated MLPs with bf16 gate and up products (fp8_mlp_half);
  // MLXS_CUDA_FP8_HALF_MLP=0 keeps them f32.
  bool fp8_half_mlp = true;
  // x's e4m3 codes left in fp8_x / fp8_x_scales by the add + RMSNorm that
  // wrote x (op `op`): the FP8 GEMM in the next op takes them instead of
  // quantizing x again. MLXS_CUDA_NORM_QUANT=0 for A/B runs.
  struct HeldX {
    const float* x = nullptr;
    std::int64_t rows = 0, cols = 0;
    std::uint64_t op = 0;
  } held_x;
  bool norm_quant = true;
  std::uint64_t held_x_runs = 0;
  // Whether fp8_x holds x's codes (M x K) from the op just before.
  bool holds_x(const float* x, std::int64_t M, std::int64_t K) {
    const bool held =
        held_x.x == x && held_x.rows == M && held_x.cols == K && held_x.op + 1 == op_seq;
    held_x_runs += held ? 1 : 0;
    return held;
  }
  // x (M x K) as per-token e4m3 codes in fp8_x for an FP8 GEMM, unless the
  // norm in the op just before left them there.
  void quantize_x(const float* x, std::int64_t M, std::int64_t K) {
    if (holds_x(x, M, K)) return;
    check(k::fp8_quantize_rows(x, static_cast<int>(M), static_cast<int>(K), fp8_x, fp8_x_scales,
                               stream),
          "fp8 quantize");
  }
  // Whether an add + RMSNorm of M rows of K should also leave its output's
  // e4m3 codes for an FP8 GEMM (the FP8 weights' scratch is there, M is
  // past the GEMV's rows and within the step's).
  bool norm_quantizes(std::int64_t M, std::int64_t K) const {
    return norm_quant && fp8_gemm && fp8_x != nullptr && !options.exact_f32 && !fp8_small(M) &&
           M <= static_cast<std::int64_t>(capacity.max_tokens) && K <= capacity.max_linear_in &&
           K % 16 == 0;
  }
  std::uint64_t half_mlp_runs = 0;
  // The overlap mode under tensor parallelism (share_sampled_ids);
  // MLXS_TP_OVERLAP=0 turns it off (an A/B switch).
  bool tp_overlap = true;
  // KV caches created from now on locate keys by shift and mask
  // (KvLayout::block_shift); MLXS_CUDA_KV_SHIFT=0 divides (A/B runs).
  bool kv_shift = true;
  // This step has sequences of several rows (prefill chunks) / of one row.
  bool step_multi_rows = false;
  bool step_single_rows = false;
  // Their attention splits (MLXS_CUDA_DECODE_SPLIT_ROWS / _SPLIT_MIN_KEYS /
  // _SPLIT_MAX_KEYS move them for tuning runs).
  int decode_split_rows = kDecodeSplitRows;
  int decode_split_min_keys = kDecodeSplitMinKeys;
  int decode_split_max_keys = kDecodeSplitMaxKeys;
  // Steps of up to this many rows take the decode attention kernel (splits
  // only up to kSplitBatch rows, one split past that); larger ones the
  // warp-per-key kernel. 256: serving 256 streams of 1k/1k on a bf16 cache
  // gave 3,447 output tok/s against 2,993 with the warp kernel past 64 rows
  // (one H100, same call). MLXS_CUDA_DECODE_MAX_ROWS moves it (A/B runs).
  int decode_max_rows = 256;
  // Steps of at least this many rows take the tensor-core decode attention
  // (bf16 and e4m3 caches; kernels_attention_decode_tc.cu).
  // MLXS_CUDA_DECODE_TC_MIN_ROWS moves it (A/B runs; a large value turns it off).
  int decode_tc_min_rows = kDecodeTcMinRows;
  // MLXS_CUDA_ROPE_HEAD_MAX_ROWS moves kRopeHeadMaxRows (A/B runs).
  int rope_head_max_rows = kRopeHeadMaxRows;
  // Attention splits of this step (flash-decoding), and their workspace.
  int attn_splits = 1;
  int attn_split_len = 1 << 30;
  float* attn_partial = nullptr;
  std::size_t attn_partial_floats = 0;
  unsigned* attn_tickets = nullptr;  // zeroed, one per (row, KV head) of kSplitBatch rows

  // CUDA graphs of pure decode steps, by (batch size, attention splits).
  // The key holds the KV cache's memory and size too: a graph replays the
  // pointers it was captured with, and one backend may serve several caches.
  using GraphKey = std::tuple<int, int, int, std::uintptr_t, std::int64_t>;
  std::map<GraphKey, cudaGraphExec_t> graphs;
  bool capturing = false;
  bool replaying = false;
  GraphKey graph_key{};
  std::function<void()> on_destroy;     // CudaBackend::on_destroy
  const PeerExchange* peers = nullptr;  // CudaBackend::attach_peers

  bool bias_epilogue = true;     // see gemm(); MLXS_GEMM_BIAS_EPILOGUE=0 turns it off
  void* half_scratch = nullptr;  // activations converted for tensor-core GEMMs
  // A stacked weight's product (StepCapacity::max_stacked_out columns a row)
  // before split_columns gives each part its own, at up to stack_max_rows
  // rows (MLXS_CUDA_STACKED_MAX_ROWS); MLXS_CUDA_STACKED=0 runs the parts
  // one GEMM each (A/B runs).
  float* stack_out = nullptr;
  std::int64_t stack_out_cols = 0;
  std::int64_t stack_rows = 0;  // stack_out's rows (0: none)
  bool stacked_gemms = true;
  std::int64_t stack_max_rows = kStackMaxRows;
  // Split-K FP8 GEMMs' partials ([slices][rows][cols], kSplitKMax slices of
  // splitk_rows x kSplitKMaxCols); MLXS_CUDA_SPLITK=0 turns them off.
  float* splitk_out = nullptr;
  std::int64_t splitk_rows = 0, splitk_cols = 0;
  bool fp8_splitk = true;
  std::uint64_t split_runs = 0;
  std::uint64_t stacked_runs = 0;
  // bf16 rows of a packed weight for prefill GEMMs (allocated with the first
  // packed weight).
  void* dequant_scratch = nullptr;
  // FP8 weights at up to this many rows take the FP8 GEMV, more the bf16
  // tile GEMM (MLXS_FP8_GEMV_MAX_ROWS).
  std::int64_t fp8_gemv_max_rows = k::kFp8GemvMaxRows;
  // Per-token e4m3 activations and their scales for the FP8 GEMM (sized in
  // plan_step once an FP8 weight is imported); MLXS_FP8_GEMM=0 sends those
  // rows to bf16 tiles instead.
  bool has_fp8 = false;
  bool fp8_gemm = true;
  // MLXS_FP8_OUTER_SCALES=0: the FP8 GEMM's scales in a pass after it (A/B);
  // also off once cuBLASLt offers no algorithm with them.
  bool fp8_outer_scales = true;
  // cuBLASLt's FP8 fast accumulation: Hopper's tensor cores keep the sum in
  // their own accumulator across K instead of promoting it to f32 every few
  // k-steps. 3-25% faster GEMMs (H200: 512 x 28672 x 4096 92 -> 79 us,
  // 2048 rows 345 -> 271), at the accuracy FP8 serving engines run with;
  // MLXS_FP8_FAST_ACCUM=0 promotes (A/B).
  bool fp8_fast_accum = true;
  std::uint8_t* fp8_x = nullptr;
  float* fp8_x_scales = nullptr;
  std::size_t dequant_scratch_bytes = 0;
  // MoE scratch.
  float* moe_logits = nullptr;
  float* moe_logits_host = nullptr;
  std::int32_t* moe_rows_dev = nullptr;
  float* moe_weights_dev = nullptr;
  std::int32_t* moe_rows_host = nullptr;
  float* moe_weights_host = nullptr;
  float* moe_in = nullptr;
  float* moe_gate = nullptr;
  float* moe_up = nullptr;
  float* moe_out = nullptr;
  // The device path (k::moe_device) takes steps in chunks of up to
  // moe_scratch_rows rows: moe_device_rows (MLXS_CUDA_MOE_DEVICE_ROWS; 0
  // keeps every MoE layer on the host path), at least the largest graph's
  // batch, at most the step's capacity. Graphs of a MoE model's decode
  // steps wait until a layer has shown that its experts take that path
  // (weights f32/f16/bf16), and stop for good once one has not (quantized
  // experts route on the host).
  int moe_device_rows = 512;
  int moe_tile_override = 0;  // MLXS_CUDA_MOE_TILE: pairs a tile (A/B runs)
  int moe_ksplit = -1;        // MLXS_CUDA_MOE_SPLIT=0|1: k::MoeDeviceArgs::ksplit (A/B runs)
  std::int64_t moe_scratch_rows = 0;
  std::int32_t* moe_order = nullptr;
  int4* moe_tiles = nullptr;
  int* moe_n_tiles = nullptr;
  float* moe_h = nullptr;
  float* moe_y = nullptr;
  bool moe_device_seen = false;
  bool moe_host_only = false;
  std::uint64_t moe_device_runs = 0;
  std::vector<const void*> moe_ptrs;         // gate, up, down pointers of one call
  std::vector<const float*> moe_scale_ptrs;  // their e4m3 scales

  void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess && error.is_ok()) error = cuda_status(err, what);
  }
  void check(const Status& s) {
    if (!s.is_ok() && error.is_ok()) error = s;
  }

  // The current device is per host thread, and a model is loaded on one
  // thread and stepped on another: every entry point that touches the
  // device first makes this backend's device current on the calling thread.
  void bind() const { bind_device(options.device); }
  // Destroys every captured decode graph (the device bound).
  void destroy_graphs() {
    for (auto& [key, exec] : graphs) cudaGraphExecDestroy(exec);
    graphs.clear();
  }

  ~Impl() {
    bind();
    if (stream != nullptr) cudaStreamSynchronize(stream);
    if (op_timing) {
      double total = 0;
      for (auto& [name, v] : op_ms) total += v.first;
      std::fprintf(stderr, "[cuda op timing] total %.3f ms\n", total);
      for (auto& [name, v] : op_ms) {
        std::fprintf(stderr, "[cuda op timing] %-28s %10.3f ms %6.1f%% %8ld calls %8.1f us/call\n",
                     name.c_str(), v.first, 100.0 * v.first / std::max(total, 1e-9), v.second,
                     1000.0 * v.first / static_cast<double>(v.second));
      }
      cudaEventDestroy(ev_start);
      cudaEventDestroy(ev_stop);
    }
    for (auto& [key, plan] : gemm_plans) {
      if (plan.op != nullptr) cublasLtMatmulDescDestroy(plan.op);
      if (plan.a != nullptr) cublasLtMatrixLayoutDestroy(plan.a);
      if (plan.b != nullptr) cublasLtMatrixLayoutDestroy(plan.b);
      if (plan.c != nullptr) cublasLtMatrixLayoutDestroy(plan.c);
    }
    encoder.reset();
    for (auto& r : ropes) {
      cudaFree(r.inv_freq);
      cudaFree(r.axis);
    }
    destroy_graphs();
    owned.clear();
    cudaFreeHost(meta_host);
    cudaFreeHost(logits_host);
    cudaFreeHost(masks_host);
    cudaFreeHost(argmax_host);
    cudaFreeHost(draws_host);
    cudaFreeHost(moe_logits_host);
    cudaFreeHost(moe_rows_host);
    cudaFreeHost(moe_weights_host);
    cudaFree(meta_dev);
    if (logits_ready != nullptr) cudaEventDestroy(logits_ready);
    for (auto& mk : marks) {
      if (mk.begin != nullptr) cudaEventDestroy(mk.begin);
      if (mk.end != nullptr) cudaEventDestroy(mk.end);
    }
    cudaFree(lt_workspace);
    if (tune_start != nullptr) cudaEventDestroy(tune_start);
    if (tune_stop != nullptr) cudaEventDestroy(tune_stop);
    if (lt != nullptr) cublasLtDestroy(lt);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  template <typename T>
  core::Result<T*> device_alloc(std::size_t count) {
    void* p = nullptr;
    const std::size_t bytes = std::max<std::size_t>(count * sizeof(T), 16);
    if (auto err = cudaMalloc(&p, bytes); err != cudaSuccess) {
      return core::make_error(ErrorCode::kModelLoadError,
                              "out of GPU memory allocating {} bytes: {}", bytes,
                              cudaGetErrorString(err));
    }
    owned.push_back(std::make_unique<CudaBuffer>(p, bytes));
    return static_cast<T*>(p);
  }

  // x as per-token e4m3 codes and scales for the FP8 GEMM, at the planned
  // step's size.
  Status alloc_fp8_x() {
    const auto T = static_cast<std::size_t>(std::max(capacity.max_tokens, 1));
    const auto in = static_cast<std::size_t>(std::max<std::int64_t>(capacity.max_linear_in, 1));
    MLXS_ASSIGN_OR_RETURN(fp8_x, device_alloc<std::uint8_t>(T * in));
    MLXS_ASSIGN_OR_RETURN(fp8_x_scales, device_alloc<float>(T));
    splitk_rows = std::min<std::int64_t>(static_cast<std::int64_t>(T), kSplitKMaxRows);
    splitk_cols = std::min<std::int64_t>(
        std::max<std::int64_t>(capacity.max_linear_out, capacity.max_stacked_out), kSplitKMaxCols);
    MLXS_ASSIGN_OR_RETURN(splitk_out,
                          device_alloc<float>(static_cast<std::size_t>(
                              kSplitKMax * splitk_rows * std::max<std::int64_t>(splitk_cols, 1))));
    return Status::ok();
  }

  // A byte-for-byte device copy of a host tensor (packed codes, scales).
  core::Result<Tensor> upload_raw(const Tensor& host) {
    MLXS_ASSIGN_OR_RETURN(std::uint8_t * dst, device_alloc<std::uint8_t>(host.nbytes()));
    MLXS_RETURN_IF_ERROR(
        cuda_status(cudaMemcpy(dst, host.data, host.nbytes(), cudaMemcpyHostToDevice), "upload"));
    Tensor out = host;
    out.data = dst;
    out.device = tensor::Device::kCuda;
    return out;
  }

  // cuBLASLt's best algorithm for a plan's descriptor and layouts within our
  // workspace (once per shape: plans are cached); false when it has none.
  // Whole prefill chunks (M a multiple of kGemmTuneRows) time the heuristic's
  // first candidates on the call's own operands and keep the fastest, where
  // the stream is not being captured into a graph (MLXS_GEMM_AUTOTUNE=0: the
  // heuristic's first, for A/B runs).
  bool pick_algo(GemmPlan& plan, int M, const void* w, const void* x, void* y) {
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                         &lt_workspace_bytes, sizeof(lt_workspace_bytes));
    cublasLtMatmulHeuristicResult_t results[kMaxGemmCandidates]{};
    int found = 0;
    cublasLtMatmulAlgoGetHeuristic(lt, plan.op, plan.a, plan.b, plan.c, plan.c, pref,
                                   gemm_candidates, results, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    plan.has_algo = found > 0;
    if (!plan.has_algo) return false;
    plan.algo = results[0].algo;
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    cudaStreamIsCapturing(stream, &capture);
    if (!gemm_autotune || M % gemm_tune_rows != 0 || found < 2 ||
        capture != cudaStreamCaptureStatusNone) {
      return true;
    }
    const float alpha = 1.0f, beta = 0.0f;
    constexpr int kReps = 3;
    float best = 0.0f, first = 0.0f;  // ms of kReps runs
    int best_i = -1;
    for (int i = 0; i < found; ++i) {
      if (results[i].state != CUBLAS_STATUS_SUCCESS) continue;
      auto run = [&] {
        return cublasLtMatmul(lt, plan.op, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y,
                              plan.c, &results[i].algo, lt_workspace, lt_workspace_bytes, stream);
      };
      if (run() != CUBLAS_STATUS_SUCCESS) continue;  // warm-up, and a check that it runs
      cudaEventRecord(tune_start, stream);
      for (int r = 0; r < kReps; ++r) run();
      cudaEventRecord(tune_stop, stream);
      float ms = 0.0f;
      if (cudaEventSynchronize(tune_stop) != cudaSuccess ||
          cudaEventElapsedTime(&ms, tune_start, tune_stop) != cudaSuccess) {
        continue;
      }
      if (i == 0) first = ms;
      if (best == 0.0f || ms < best) {
        best = ms;
        best_i = i;
        plan.algo = results[i].algo;
      }
    }
    if (gemm_tune_log) {
      std::uint64_t k = 0, n = 0;
      std::size_t got = 0;
      cublasLtMatrixLayoutGetAttribute(plan.a, CUBLASLT_MATRIX_LAYOUT_ROWS, &k, sizeof(k), &got);
      cublasLtMatrixLayoutGetAttribute(plan.a, CUBLASLT_MATRIX_LAYOUT_COLS, &n, sizeof(n), &got);
      std::fprintf(stderr,
                   "gemm tune %d x %llu x %llu: %d candidates, first %.1f us, best #%d %.1f us\n",
                   M, static_cast<unsigned long long>(n), static_cast<unsigned long long>(k), found,
                   first * 1e3 / kReps, best_i, best * 1e3 / kReps);
    }
    return true;
  }

  // Y[M, N] = X[M, K] . W[N, K]^T (+ bias[N]) with cuBLASLt (column-major:
  // Y^T = W . X^T). `ldc` > N writes N columns of a wider output (0: ldc =
  // N). The bias goes in the GEMM's epilogue where cuBLASLt has an algorithm
  // for it (one pass less over Y: a vision tower's 4096-row outputs), else
  // in a kernel after it; MLXS_GEMM_BIAS_EPILOGUE=0 keeps the kernel.
  Status gemm(const void* x, cudaDataType_t xtype, const void* w, cudaDataType_t wtype_, float* y,
              int M, int N, int K, int ldc = 0, const float* bias = nullptr) {
    if (ldc == 0) ldc = N;
    const int type_key = static_cast<int>(wtype_);
    const bool with_bias = bias != nullptr && bias_epilogue && ldc == N && aligned16(bias);
    GemmPlan& plan = gemm_plans[{M, N, K, type_key, ldc, with_bias}];
    if (plan.op == nullptr) {
      const bool f32 = wtype_ == CUDA_R_32F;
      const cublasComputeType_t compute =
          f32 && options.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      MLXS_RETURN_IF_ERROR(
          lt_status(cublasLtMatmulDescCreate(&plan.op, compute, CUDA_R_32F), "desc"));
      const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
      if (with_bias) {
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi));
        cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                       sizeof(bias));
      }
      MLXS_RETURN_IF_ERROR(
          lt_status(cublasLtMatrixLayoutCreate(&plan.a, wtype_, K, N, K), "layout A"));
      MLXS_RETURN_IF_ERROR(
          lt_status(cublasLtMatrixLayoutCreate(&plan.b, xtype, K, M, K), "layout B"));
      MLXS_RETURN_IF_ERROR(
          lt_status(cublasLtMatrixLayoutCreate(&plan.c, CUDA_R_32F, N, M, ldc), "layout C"));
      if (pick_algo(plan, M, w, x, y)) {
        plan.bias_epilogue = with_bias;
      } else if (with_bias) {  // no algorithm with the epilogue: the plain one
        const cublasLtEpilogue_t none = CUBLASLT_EPILOGUE_DEFAULT;
        cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &none, sizeof(none));
      }
    }
    if (plan.bias_epilogue) {
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                     sizeof(bias));
    }
    const float alpha = 1.0f, beta = 0.0f;
    MLXS_RETURN_IF_ERROR(
        lt_status(cublasLtMatmul(lt, plan.op, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y,
                                 plan.c, plan.has_algo ? &plan.algo : nullptr, lt_workspace,
                                 lt_workspace_bytes, stream),
                  "matmul"));
    if (bias != nullptr && !plan.bias_epilogue) {
      return cuda_status(k::add_bias(y, bias, M, N, stream), "bias");
    }
    return Status::ok();
  }

  // Packed affine weights for more rows than qgemm takes: bf16 tiles of the weight
  // (dequantized into a fixed scratch, a block of rows at a time) through
  // the tensor cores.
  void quantized_gemm(const float* x, std::int64_t M, std::int64_t K, const tensor::LinearOut& o) {
    const k::AffineWeight w = affine_view(*o.weight);
    const float* bias = o.weight->bias.empty() ? nullptr : o.weight->bias.as<float>();
    float* y = o.out.as<float>();
    check(k::to_half(k::WType::kBF16, x, half_scratch, M * K, stream), "to_half");
    const int chunk = static_cast<int>(
        std::max<std::int64_t>(1, static_cast<std::int64_t>(dequant_scratch_bytes / 2) / K));
    for (int n0 = 0; n0 < w.n; n0 += chunk) {
      const int rows = std::min(chunk, w.n - n0);
      check(k::dequantize_rows(w, static_cast<int>(K), n0, rows, dequant_scratch, stream),
            "dequantize");
      check(gemm(half_scratch, CUDA_R_16BF, dequant_scratch, CUDA_R_16BF, y + n0,
                 static_cast<int>(M), rows, static_cast<int>(K), w.n));
    }
    if (bias != nullptr) check(k::add_bias(y, bias, M, w.n, stream), "bias");
  }

  // An FP8 GEMM's descriptor in `plan`: f32 compute, the weight transposed,
  // fast accumulation as switched; false where cuBLASLt refuses it.
  bool fp8_desc(GemmPlan& plan) {
    if (!lt_status(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc")
             .is_ok()) {
      return false;
    }
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
    cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
    const std::int8_t fast_accum = fp8_fast_accum ? 1 : 0;
    cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast_accum,
                                   sizeof(fast_accum));
    return true;
  }

  // The FP8 GEMM's plan for M x N x K: with outer-vector scales (each
  // weight row's and each token's scale applied in the GEMM's epilogue, no
  // pass over the f32 output after it) where cuBLASLt has an algorithm for
  // them, else the plain product. The cuBLASLt 13 of the H100 machine had
  // none for e4m3 with an f32 output (an earlier session); the H200's has.
  // `half_out`: the product as bf16 (sg.y then holds M x N bf16), only with
  // the scales in the epilogue (null where that is not offered).
  GemmPlan* fp8_gemm_plan(std::int64_t M, std::int64_t K, const k::Fp8Segment& sg,
                          bool half_out = false) {
    const int N = sg.w.n;
    const bool outer = fp8_outer_scales;
    if (half_out && !outer) return nullptr;  // the scale pass works on f32
    GemmPlan& plan = gemm_plans[{static_cast<int>(M), N, static_cast<int>(K),
                                 half_out ? -10 : (outer ? -9 : -8), N, false}];
    if (plan.op != nullptr) return plan.has_algo ? &plan : nullptr;
    if (!fp8_desc(plan)) return nullptr;
    if (outer) {
      const std::int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode,
                                     sizeof(mode));
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode,
                                     sizeof(mode));
      set_fp8_scales(plan, sg);
      plan.outer_scales = true;
    }
    cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_8F_E4M3, K, N, K);
    cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_8F_E4M3, K, M, K);
    cublasLtMatrixLayoutCreate(&plan.c, half_out ? CUDA_R_16BF : CUDA_R_32F, N, M, N);
    if (pick_algo(plan, static_cast<int>(M), sg.w.codes, fp8_x, sg.y)) return &plan;
    if (half_out) return nullptr;  // the f32 product instead
    if (outer) {
      // Not offered for this shape or device: the plain product from here on.
      std::fprintf(stderr,
                   "cuda: no cuBLASLt FP8 GEMM with outer-vector scales for %lld x %d x %lld\n",
                   static_cast<long long>(M), N, static_cast<long long>(K));
      fp8_outer_scales = false;
      return fp8_gemm_plan(M, K, sg);
    }
    std::fprintf(stderr, "cuda: no cuBLASLt FP8 GEMM for %lld x %d x %lld: bf16 tiles\n",
                 static_cast<long long>(M), N, static_cast<long long>(K));
    return nullptr;
  }

  // A weight's row scales (A: its N rows) and the tokens' (B: the M columns).
  void set_fp8_scales(GemmPlan& plan, const k::Fp8Segment& sg) const {
    const void* a = sg.w.scales;
    const void* b = fp8_x_scales;
    cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a, sizeof(a));
    cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b, sizeof(b));
  }

  // Y = X · W^T on cuBLASLt's FP8 tensor-core GEMM: x as per-token e4m3
  // (fp8_quantize_rows, once per call), W's codes as stored, f32 output;
  // the scales in its epilogue, else after it (fp8_scale_output, with the
  // bias). `plan` is fp8_gemm_plan's for M rows of sg (where cuBLASLt has
  // none, the caller takes bf16 tiles).
  void fp8_gemm_run(GemmPlan& plan, std::int64_t M, const k::Fp8Segment& sg) {
    if (plan.outer_scales) set_fp8_scales(plan, sg);
    const float alpha = 1.0f, beta = 0.0f;
    check(lt_status(
        cublasLtMatmul(lt, plan.op, &alpha, sg.w.codes, plan.a, fp8_x, plan.b, &beta, sg.y, plan.c,
                       sg.y, plan.c, &plan.algo, lt_workspace, lt_workspace_bytes, stream),
        "fp8 matmul"));
    if (!plan.outer_scales) {
      check(k::fp8_scale_output(sg.y, fp8_x_scales, sg.w.scales, sg.bias, M, sg.w.n, stream),
            "fp8 scales");
    } else if (sg.bias != nullptr) {
      check(k::add_bias(sg.y, sg.bias, M, sg.w.n, stream), "bias");
    }
  }

  // Whether M rows take the FP8 GEMV (or the exact kernel) rather than a GEMM.
  bool fp8_small(std::int64_t M) const { return M <= fp8_gemv_max_rows && M <= k::kFp8GemvMaxRows; }
  // Whether fp8_linear gives weight w (per channel) to cuBLASLt's FP8 GEMM
  // at M rows of K (where it has an algorithm).
  bool fp8_gemm_takes(std::int64_t M, std::int64_t K, const k::Fp8Weight& w) const {
    return !options.exact_f32 && !fp8_small(M) && fp8_gemm && fp8_x != nullptr &&
           w.block_rows == 1 && w.group >= K && K % 16 == 0;
  }

  // K slices for an FP8 GEMM of M x N x K (per-channel weights): 1 where
  // its output tiles already fill half the SMs (or it is past the split's
  // rows, columns or depth).
  int fp8_splits(std::int64_t M, std::int64_t N, std::int64_t K) const {
    if (!fp8_splitk || splitk_out == nullptr || M > splitk_rows || N > splitk_cols || N % 4 != 0) {
      return 1;
    }
    const std::int64_t tiles = ((N + 127) / 128) * ((M + 127) / 128);
    int slices = 1;
    while (slices < kSplitKMax && tiles * slices * 2 <= sm_count && K % (2 * slices * 16) == 0 &&
           K / (2 * slices) >= kSplitKMinDepth) {
      slices *= 2;
    }
    return slices;
  }

  // The batched plan of `slices` K slices (strided batches over one weight
  // and one x, partials one after another in splitk_out); null where
  // cuBLASLt has no algorithm for it.
  GemmPlan* fp8_splitk_plan(std::int64_t M, std::int64_t N, std::int64_t K, int slices,
                            const void* codes) {
    GemmPlan& plan = gemm_plans[{static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
                                 -20 - slices, static_cast<int>(N), false}];
    if (plan.op != nullptr) return plan.has_algo ? &plan : nullptr;
    if (!fp8_desc(plan)) return nullptr;
    const std::int64_t depth = K / slices;
    const std::int32_t batches = slices;
    const std::int64_t c_stride = N * M;
    cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_8F_E4M3, depth, N, K);
    cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_8F_E4M3, depth, M, K);
    cublasLtMatrixLayoutCreate(&plan.c, CUDA_R_32F, N, M, N);
    for (auto [layout, stride] : {std::pair{plan.a, depth}, {plan.b, depth}, {plan.c, c_stride}}) {
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batches,
                                       sizeof(batches));
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                       sizeof(stride));
    }
    pick_algo(plan, static_cast<int>(M), codes, fp8_x, splitk_out);
    return plan.has_algo ? &plan : nullptr;
  }

  // The same for one segment written whole (its own output).
  bool fp8_splitk_run(std::int64_t M, std::int64_t K, const k::Fp8Segment& seg) {
    k::ColumnParts one{};
    one.part[one.count++] = {seg.y, seg.w.n};
    return fp8_splitk_run(M, K, seg, one);
  }

  // `whole` (x already quantized in fp8_x) as split-K slices and a reduce
  // into `parts`; false where it does not split (the caller runs the GEMM).
  bool fp8_splitk_run(std::int64_t M, std::int64_t K, const k::Fp8Segment& whole,
                      const k::ColumnParts& parts) {
    const int slices = fp8_splits(M, whole.w.n, K);
    if (slices < 2) return false;
    for (int p = 0; p < parts.count; ++p) {
      if (parts.part[p].cols % 4 != 0 || !aligned16(parts.part[p].dst)) return false;
    }
    GemmPlan* plan = fp8_splitk_plan(M, whole.w.n, K, slices, whole.w.codes);
    if (plan == nullptr) return false;
    const float alpha = 1.0f, beta = 0.0f;
    check(lt_status(cublasLtMatmul(lt, plan->op, &alpha, whole.w.codes, plan->a, fp8_x, plan->b,
                                   &beta, splitk_out, plan->c, splitk_out, plan->c, &plan->algo,
                                   lt_workspace, lt_workspace_bytes, stream),
                    "fp8 split-k matmul"));
    check(k::fp8_splitk_reduce(splitk_out, slices, M, whole.w.n, fp8_x_scales, whole.w.scales,
                               whole.bias, parts, stream),
          "fp8 split-k reduce");
    ++split_runs;
    return true;
  }

  // The outputs part(0), part(1), ... (up to `count`, kMaxColumnParts) that
  // are adjacent row ranges of one weight (adjacent(j): j follows j - 1 end
  // to end) and whose stacked product fits stack_out at M rows, as the
  // split's parts; none (count 0) where fewer than two stack.
  template <typename Part, typename Adjacent>
  k::ColumnParts stacked_parts(std::int64_t M, std::size_t count, Part&& part,
                               Adjacent&& adjacent) const {
    k::ColumnParts parts{};
    if (!stacked_gemms || M > stack_rows) return parts;
    std::int64_t width = 0;
    for (std::size_t j = 0; j < count && parts.count < k::kMaxColumnParts; ++j) {
      const k::ColumnPart p = part(j);
      if ((j > 0 && !adjacent(j)) || width + p.cols > stack_out_cols) break;
      if (p.cols % 4 != 0 || !aligned16(p.dst)) return k::ColumnParts{};
      width += p.cols;
      parts.part[parts.count++] = p;
    }
    return parts.count > 1 ? parts : k::ColumnParts{};
  }
  // After a stacked product in stack_out: its columns to the parts.
  void unstack(std::int64_t M, const k::ColumnParts& parts) {
    check(k::split_columns(stack_out, M, parts, stream), "split columns");
    ++stacked_runs;
  }

  // FP8 weights sharing x. exact_f32: f32 products of the exact weights, 8
  // rows a launch. Otherwise up to fp8_gemv_max_rows rows on the FP8 GEMV
  // (x as f16, tensor cores, one byte read per weight; weights of 32-column
  // blocks, which it does not take, on the exact kernel); more rows, the FP8
  // GEMM for per-channel weights, bf16 tiles through the bf16 GEMM for the
  // others.
  // A gated MLP of per-channel FP8 weights on cuBLASLt's FP8 GEMMs, gate and
  // up written as bf16 into their f32 scratch (the epilogue applies the
  // scales): half the bytes for those GEMMs to write and for the activation's
  // quantize to read back (8B at 2,048 rows: 235 MB a layer, that quantize
  // 107 us, H200). False, having done nothing, where it does not apply.
  bool fp8_mlp_half(const Tensor& x, const tensor::Weight& gate, const tensor::Weight& up, k::Act a,
                    const Tensor& gate_out, const Tensor& up_out, const tensor::LinearOut& down) {
    const std::int64_t M = x.rows(), K = x.cols();
    if (!fp8_half_mlp || options.exact_f32 || !is_fp8(gate) || !is_fp8(up) ||
        !is_fp8(*down.weight) || !gate.bias.empty() || !up.bias.empty() ||
        gate.w.shape != up.w.shape) {
      return false;
    }
    const k::Fp8Segment g{fp8_view(gate), nullptr, gate_out.as<float>()};
    const k::Fp8Segment u{fp8_view(up), nullptr, up_out.as<float>()};
    const k::Fp8Segment d{fp8_view(*down.weight),
                          down.weight->bias.empty() ? nullptr : down.weight->bias.as<float>(),
                          down.out.as<float>()};
    const std::int64_t F = g.w.n;
    if (!fp8_gemm_takes(M, K, g.w) || !fp8_gemm_takes(M, F, d.w) || F % 2 != 0 ||
        !aligned16(gate_out.data) || !aligned16(up_out.data)) {
      return false;
    }
    GemmPlan* half = fp8_gemm_plan(M, K, g, true);
    GemmPlan* plan = half != nullptr ? fp8_gemm_plan(M, F, d) : nullptr;
    if (plan == nullptr) return false;
    if (replaying) return true;  // the step's graph does the work
    {
      const OpScope timer(this, "linear");
      quantize_x(x.as<float>(), M, K);
      fp8_gemm_run(*half, M, g);
      fp8_gemm_run(*half, M, u);
    }
    const OpScope timer(this, "gated_linear");
    check(k::fp8_quantize_gated_half_rows(a, gate_out.data, up_out.data, static_cast<int>(M),
                                          static_cast<int>(F), fp8_x, fp8_x_scales, stream),
          "gated_activation");
    if (!fp8_splitk_run(M, F, d)) fp8_gemm_run(*plan, M, d);
    ++half_mlp_runs;
    return true;
  }

  void fp8_linear(const float* x, std::int64_t M, std::int64_t K, k::Fp8Segment* segs, int count) {
    if (count == 0 || M == 0) return;
    const int Ki = static_cast<int>(K);
    const bool small = fp8_small(M);
    bool mma = small;
    for (int i = 0; i < count; ++i) mma = mma && k::fp8_gemv_supports(segs[i].w.group, K);
    if (mma && !options.exact_f32) {
      // Past 4 rows x goes to f16 in one pass first: staging it in every
      // block costs more than the launch (H100, 8B at 16 rows).
      const bool x_f16 = M > 4 || !k::fp8_gemv_stages_x(M, K);
      if (x_f16) check(k::to_half(k::WType::kF16, x, half_scratch, M * K, stream), "to_half");
      check(k::fp8_gemv(x_f16 ? half_scratch : static_cast<const void*>(x), x_f16,
                        static_cast<int>(M), Ki, segs, count, stream),
            "fp8 gemv");
      return;
    }
    if (options.exact_f32 || small) {
      for (std::int64_t m0 = 0; m0 < M; m0 += k::kFp8ExactMaxRows) {
        const auto rows = static_cast<int>(std::min<std::int64_t>(k::kFp8ExactMaxRows, M - m0));
        k::Fp8Segment part[k::kFp8MaxSegments];
        for (int i = 0; i < count; ++i) {
          part[i] = segs[i];
          part[i].y = segs[i].y + m0 * segs[i].w.n;
        }
        check(k::fp8_gemv_exact(x + m0 * K, rows, Ki, part, count, stream), "fp8 gemv");
      }
      return;
    }
    bool x_fp8 = false, x_bf16 = false;
    for (int i = 0; i < count; ++i) {
      const k::Fp8Weight& w = segs[i].w;
      if (fp8_gemm_takes(M, K, w)) {
        if (!x_fp8) quantize_x(x, M, K);
        x_fp8 = true;
        // Adjacent row ranges of one weight (codes, scales, biases end to end).
        const k::Fp8Segment* at = segs + i;
        const k::ColumnParts parts = stacked_parts(
            M, static_cast<std::size_t>(count - i),
            [&](std::size_t j) {
              return k::ColumnPart{at[j].y, at[j].w.n};
            },
            [&](std::size_t j) {
              const k::Fp8Segment& a = at[j - 1];
              const k::Fp8Segment& b = at[j];
              return a.w.codes + a.w.n * K == b.w.codes && a.w.scales + a.w.n == b.w.scales &&
                     (a.bias == nullptr ? b.bias == nullptr : a.bias + a.w.n == b.bias) &&
                     fp8_gemm_takes(M, K, b.w);
            });
        if (parts.count > 1) {
          k::Fp8Segment whole = segs[i];
          whole.w.n = 0;
          for (int j = 0; j < parts.count; ++j) whole.w.n += parts.part[j].cols;
          whole.y = stack_out;
          if (fp8_splitk_run(M, K, whole, parts)) {
            ++stacked_runs;
            i += parts.count - 1;
            continue;
          }
          if (GemmPlan* plan = fp8_gemm_plan(M, K, whole); plan != nullptr) {
            fp8_gemm_run(*plan, M, whole);
            unstack(M, parts);
            i += parts.count - 1;
            continue;
          }
        }
        if (fp8_splitk_run(M, K, segs[i])) continue;
        if (GemmPlan* plan = fp8_gemm_plan(M, K, segs[i]); plan != nullptr) {
          fp8_gemm_run(*plan, M, segs[i]);
          continue;
        }
      }
      if (!x_bf16) check(k::to_half(k::WType::kBF16, x, half_scratch, M * K, stream), "to_half");
      x_bf16 = true;
      const int chunk = static_cast<int>(
          std::max<std::int64_t>(1, static_cast<std::int64_t>(dequant_scratch_bytes / 2) / K));
      for (int n0 = 0; n0 < w.n; n0 += chunk) {
        const int rows = std::min(chunk, w.n - n0);
        check(k::fp8_dequantize_rows(w, Ki, n0, rows, dequant_scratch, stream), "dequantize");
        check(gemm(half_scratch, CUDA_R_16BF, dequant_scratch, CUDA_R_16BF, segs[i].y + n0,
                   static_cast<int>(M), rows, Ki, w.n));
      }
      if (segs[i].bias != nullptr) {
        check(k::add_bias(segs[i].y, segs[i].bias, M, w.n, stream), "bias");
      }
    }
  }

  // Experts the device path takes: plain f32/f16/bf16 weights of one dtype
  // and one shape, no biases, rows of whole 16-byte vectors; or e4m3 codes
  // with f32 scales per channel or per block (k::MoeDeviceArgs' shapes).
  static bool moe_device_weights(const tensor::MoeSpec& spec, std::int64_t H) {
    if (spec.gate.empty()) {
      return false;
    }
    const tensor::Weight& first = spec.gate[0];
    const DType d = first.w.dtype;
    const std::int64_t F = first.out_features();
    const bool fp8 = is_fp8(first) && d == DType::kF8E4M3;
    if (!fp8 &&
        (first.quantized() || (d != DType::kF32 && d != DType::kF16 && d != DType::kBF16))) {
      return false;
    }
    if (H % (fp8 ? 16 : 8) != 0 || F % (fp8 ? 16 : 8) != 0) {
      return false;
    }
    const std::int64_t block_rows = first.quant.block_rows;
    const std::int64_t gate_group = first.quant.group_size;
    const std::int64_t down_group = spec.down[0].quant.group_size;
    auto group_ok = [](std::int64_t group, std::int64_t cols) {
      return group >= cols || (group > 0 && group % 64 == 0);
    };
    if (fp8 && (!(block_rows == 1 || block_rows % 16 == 0) || !group_ok(gate_group, H) ||
                !group_ok(down_group, F))) {
      return false;
    }
    auto plain = [&](const tensor::Weight& w, std::int64_t rows, std::int64_t cols,
                     std::int64_t group) {
      if (w.w.dtype != d || w.bias.data != nullptr || w.w.rows() != rows || w.w.cols() != cols ||
          !aligned16(w.w.data)) {
        return false;
      }
      if (!fp8) {
        return !w.quantized();
      }
      return is_fp8(w) && w.quant.in_features == cols && w.quant.block_rows == block_rows &&
             w.quant.group_size == group && w.quant.scales.dtype == DType::kF32;
    };
    for (std::size_t e = 0; e < spec.gate.size(); ++e) {
      if (!plain(spec.gate[e], F, H, gate_group) || !plain(spec.up[e], F, H, gate_group) ||
          !plain(spec.down[e], H, F, down_group)) {
        return false;
      }
    }
    return true;
  }

  // Pairs a tile: about the pairs each routed expert gets, expecting
  // T·k choices spread evenly over E experts. bf16 experts take the
  // tensor-core tiles (k::kMoeMmaTile) as soon as experts share pairs:
  // their columns cost nothing the weights' bytes do not.
  int moe_tile(std::int64_t pairs, int experts, DType d) const {
    if (moe_tile_override > 0) {
      if (d == DType::kF8E4M3) {
        return moe_tile_override > k::kMoeMmaTile ? k::kMoeMmaWideTile : k::kMoeMmaTile;
      }
      return d == DType::kBF16 ? moe_tile_override : std::min(moe_tile_override, 8);
    }
    const double e = experts;
    const double active = e * (1.0 - std::pow(1.0 - 1.0 / e, static_cast<double>(pairs)));
    const double per = static_cast<double>(pairs) / std::max(active, 1.0);
    const int mma_tile = per < 24.0 ? k::kMoeMmaTile : k::kMoeMmaWideTile;
    if (d == DType::kF8E4M3) {
      return mma_tile;
    }
    if (per < 1.5) {
      return 1;
    }
    if (d == DType::kBF16) {
      return mma_tile;
    }
    return per < 3.0 ? 2 : per < 6.0 ? 4 : 8;
  }

  // The layer on the device (k::moe_device) when its experts and the step
  // allow; false leaves it to the host path.
  bool moe_on_device(const Tensor& x, const tensor::MoeSpec& spec, Tensor out) {
    const std::int64_t T = x.rows(), H = x.cols();
    const auto E = static_cast<int>(spec.gate.size());
    if (moe_device_rows <= 0 || !moe_device_weights(spec, H) || E > k::kMoeMaxExperts ||
        spec.top_k > 32 || spec.top_k > E) {
      moe_host_only = true;
      return false;
    }
    if (moe_scratch_rows <= 0) {
      return false;  // plan_step sized no MoE scratch
    }
    moe_device_seen = true;
    const auto n3 = 3 * static_cast<std::size_t>(E);
    moe_ptrs.resize(n3);
    moe_scale_ptrs.resize(n3);
    const std::span<const tensor::Weight> mats[3] = {spec.gate, spec.up, spec.down};
    for (std::size_t m = 0; m < 3; ++m) {
      for (std::size_t e = 0; e < static_cast<std::size_t>(E); ++e) {
        moe_ptrs[m * static_cast<std::size_t>(E) + e] = mats[m][e].w.data;
        moe_scale_ptrs[m * static_cast<std::size_t>(E) + e] = mats[m][e].quant.scales.as<float>();
      }
    }
    k::MoeDeviceArgs a{};
    a.E = E;
    a.topk = spec.top_k;
    a.norm = spec.norm_topk_prob;
    a.H = static_cast<int>(H);
    a.F = static_cast<int>(spec.gate[0].out_features());
    a.wtype = wtype(spec.gate[0].w.dtype);
    a.gate = moe_ptrs.data();
    a.up = moe_ptrs.data() + E;
    a.down = moe_ptrs.data() + 2 * E;
    if (is_fp8(spec.gate[0])) {
      a.gate_scale = moe_scale_ptrs.data();
      a.up_scale = moe_scale_ptrs.data() + E;
      a.down_scale = moe_scale_ptrs.data() + 2 * E;
      a.block_rows = static_cast<int>(spec.gate[0].quant.block_rows);
      a.gate_group = static_cast<int>(std::min(spec.gate[0].quant.group_size, H));
      a.down_group =
          static_cast<int>(std::min(spec.down[0].quant.group_size, spec.down[0].quant.in_features));
    }
    a.act = kernel_act(spec.activation);
    a.ksplit = moe_ksplit;
    a.sms = sm_count;
    a.choice = moe_rows_dev;
    a.weight = moe_weights_dev;
    a.order = moe_order;
    a.tiles = moe_tiles;
    a.n_tiles = moe_n_tiles;
    a.h = moe_h;
    a.y = moe_y;
    // Steps past the scratch's rows (prefill) run in chunks of them.
    for (std::int64_t r0 = 0; r0 < T; r0 += moe_scratch_rows) {
      const std::int64_t n = std::min(moe_scratch_rows, T - r0);
      a.logits = moe_logits + r0 * E;
      a.x = x.as<float>() + r0 * H;
      a.out = out.as<float>() + r0 * H;
      a.T = static_cast<int>(n);
      a.bm = moe_tile(n * spec.top_k, E, spec.gate[0].w.dtype);
      check(k::moe_device(a, stream), "moe");
    }
    ++moe_device_runs;
    return true;
  }

  void linear(const float* x, std::int64_t M, std::int64_t K,
              std::span<const tensor::LinearOut> outs) {
    k::Fp8Segment fp8[k::kFp8MaxSegments];
    int nfp8 = 0;
    // Packed weights: up to 8 rows, those of the same bits sharing x in one
    // quantized GEMV launch; more rows, one GEMM each. Then the others
    // together as before.
    k::QSegment segs[k::kQgemvMaxSegments];
    int nseg = 0;
    const auto flush = [&] {
      if (nseg > 0) {
        check(k::qgemv(x, static_cast<int>(M), static_cast<int>(K), segs, nseg, stream), "qgemv");
      }
      nseg = 0;
    };
    tensor::LinearOut plain[8];
    std::size_t count = 0;
    bool x_half = false;  // x converted to bf16 for qgemm (once for every weight)
    for (const auto& o : outs) {
      if (!o.weight->quantized()) {
        plain[count++] = o;
        if (count == std::size(plain)) {
          plain_linear(x, M, K, std::span<const tensor::LinearOut>(plain, count));
          count = 0;
          x_half = false;  // the scratch may now hold x in another 16-bit type
        }
        continue;
      }
      if (is_fp8(*o.weight)) {
        if (nfp8 == k::kFp8MaxSegments) {
          fp8_linear(x, M, K, fp8, nfp8);
          nfp8 = 0;
          x_half = false;
        }
        fp8[nfp8++] = {fp8_view(*o.weight),
                       o.weight->bias.empty() ? nullptr : o.weight->bias.as<float>(),
                       o.out.as<float>()};
        continue;
      }
      const k::AffineWeight w = affine_view(*o.weight);
      if (!k::qgemv_preferred(static_cast<int>(M), K, w) && M >= options.qgemm_min_rows &&
          options.qgemm_min_rows > 0 && M <= k::kQgemmMaxRows &&
          k::qgemm_supports(w.bits, w.group, K) && dequant_scratch != nullptr) {
        if (!x_half) check(k::to_half(k::WType::kBF16, x, half_scratch, M * K, stream), "to_half");
        x_half = true;
        check(k::qgemm(half_scratch, static_cast<int>(M), static_cast<int>(K), w,
                       o.weight->bias.empty() ? nullptr : o.weight->bias.as<float>(),
                       o.out.as<float>(), static_cast<float*>(dequant_scratch),
                       dequant_scratch_bytes / sizeof(float), stream),
              "qgemm");
        continue;
      }
      if (M > k::kGemvMaxRows) {
        quantized_gemm(x, M, K, o);
        continue;
      }
      if (nseg == k::kQgemvMaxSegments ||
          (nseg > 0 && (segs[0].w.bits != w.bits || segs[0].w.param_type != w.param_type))) {
        flush();
      }
      segs[nseg++] = {w, o.weight->bias.empty() ? nullptr : o.weight->bias.as<float>(),
                      o.out.as<float>()};
    }
    flush();
    fp8_linear(x, M, K, fp8, nfp8);
    if (count == outs.size()) return plain_linear(x, M, K, outs);
    if (count > 0) plain_linear(x, M, K, std::span<const tensor::LinearOut>(plain, count));
  }

  // Whether the step's split partials fit the planned attention workspace
  // (an internal error on the step when not).
  bool attention_workspace_fits(const tensor::AttentionSpec& spec) {
    const auto need =
        static_cast<std::size_t>(step_tokens) * static_cast<std::size_t>(spec.n_heads) *
        static_cast<std::size_t>(attn_splits) * static_cast<std::size_t>(spec.head_dim + 2);
    if (need <= attn_partial_floats) return true;
    check(Status(ErrorCode::kInternalError,
                 "attention workspace smaller than planned heads x head_dim"));
    return false;
  }

  // Whether the step's one-row sequences take the tensor-core decode kernel.
  bool decode_on_tensor_cores(const tensor::AttentionSpec& spec, const k::KvLayout& kv) const {
    return step_tokens >= decode_tc_min_rows &&
           k::attention_decode_tc_supported(spec.n_heads, spec.head_dim, kv);
  }

  // Whether a plain linear of M rows runs on our f32 GEMV rather than a
  // cuBLASLt GEMM on 16-bit activations.
  bool takes_gemv(std::int64_t M) const {
    return options.exact_f32 || (M <= options.gemv_max_rows && M <= k::kGemvMaxRows);
  }

  // y = x16 · Wᵀ (+ bias) for a bf16 or f16 weight, x16 already in its type.
  Status gemm_16bit(const void* x16, const tensor::Weight& weight, std::int64_t M, std::int64_t K,
                    float* y) {
    const cudaDataType_t dt = weight.w.dtype == DType::kBF16 ? CUDA_R_16BF : CUDA_R_16F;
    return gemm(x16, dt, weight.w.data, dt, y, static_cast<int>(M),
                static_cast<int>(weight.out_features()), static_cast<int>(K), 0,
                weight.bias.empty() ? nullptr : weight.bias.as<float>());
  }

  void plain_linear(const float* x, std::int64_t M, std::int64_t K,
                    std::span<const tensor::LinearOut> outs) {
    if (takes_gemv(M)) {
      // Weights of one dtype that share x go out as one GEMV launch.
      for (std::int64_t m0 = 0; m0 < M; m0 += k::kGemvMaxRows) {
        const auto rows = static_cast<int>(std::min<std::int64_t>(k::kGemvMaxRows, M - m0));
        std::size_t i = 0;
        while (i < outs.size()) {
          const DType dt = outs[i].weight->w.dtype;
          k::GemvSegment segs[k::kGemvMaxSegments];
          int count = 0;
          for (; i < outs.size() && count < k::kGemvMaxSegments && outs[i].weight->w.dtype == dt;
               ++i) {
            const auto& o = outs[i];
            const auto N = o.weight->out_features();
            segs[count++] = {o.weight->w.data,
                             o.weight->bias.empty() ? nullptr : o.weight->bias.as<float>(),
                             o.out.as<float>() + m0 * N, static_cast<int>(N)};
          }
          check(k::gemv(wtype(dt), x + m0 * K, rows, static_cast<int>(K), segs, count, stream),
                "gemv");
        }
      }
      return;
    }
    bool converted[3] = {false, false, false};
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const auto& o = outs[i];
      const Tensor& w = o.weight->w;
      float* y = o.out.as<float>();
      if (w.dtype == DType::kF32) {
        check(gemm(x, CUDA_R_32F, w.data, CUDA_R_32F, y, static_cast<int>(M),
                   static_cast<int>(w.rows()), static_cast<int>(K), 0,
                   o.weight->bias.empty() ? nullptr : o.weight->bias.as<float>()));
      } else {
        const auto t = wtype(w.dtype);
        const int slot = static_cast<int>(t);
        if (!converted[slot]) {
          // One conversion per dtype per call: q/k/v (or gate/up) share it.
          check(k::to_half(t, x, half_scratch, M * K, stream), "to_half");
          std::fill(std::begin(converted), std::end(converted), false);
          converted[slot] = true;
        }
        // Adjacent row ranges of one weight (data and f32 biases end to end).
        const auto at = outs.subspan(i);
        const k::ColumnParts parts = stacked_parts(
            M, at.size(),
            [&](std::size_t j) {
              return k::ColumnPart{at[j].out.as<float>(),
                                   static_cast<int>(at[j].weight->out_features())};
            },
            [&](std::size_t j) {
              const tensor::Weight& a = *at[j - 1].weight;
              const tensor::Weight& b = *at[j].weight;
              const std::int64_t n = a.out_features();
              return !b.quantized() && b.w.dtype == a.w.dtype &&
                     static_cast<const std::uint8_t*>(a.w.data) +
                             static_cast<std::size_t>(n * K) * tensor::dtype_size(a.w.dtype) ==
                         b.w.data &&
                     a.bias.empty() == b.bias.empty() &&
                     (a.bias.empty() || a.bias.as<float>() + n == b.bias.as<float>());
            });
        if (parts.count > 1) {
          std::int64_t rows = 0;
          for (int j = 0; j < parts.count; ++j) rows += parts.part[j].cols;
          tensor::Weight whole = *o.weight;
          whole.w = Tensor(w.data, w.dtype, {rows, K}, w.device);
          if (!whole.bias.empty()) {
            whole.bias = Tensor(whole.bias.data, DType::kF32, {rows}, w.device);
          }
          check(gemm_16bit(half_scratch, whole, M, K, stack_out));
          unstack(M, parts);
          i += static_cast<std::size_t>(parts.count) - 1;
          continue;
        }
        check(gemm_16bit(half_scratch, *o.weight, M, K, y));
      }
    }
  }

  // The step's multimodal spans into the pinned slot `h` and up with one
  // more copy in stream order (begin_step's path, no wait). M-RoPE models
  // get positions on every step (the row's own on each axis when the step
  // has none), so their decode graphs read the same pointer. Returns whether
  // the step needs work a captured decode graph does not hold (bidirectional
  // spans or image rows).
  bool upload_multimodal(const tensor::StepBatch& batch, std::int32_t* h) {
    const std::size_t T = batch.tokens.size();
    meta.rope_positions = nullptr;
    meta.attend_until = nullptr;
    std::size_t end = off_rope_positions;
    if (multi_axis_rope) {
      std::int32_t* rp = h + off_rope_positions;
      if (batch.rope_positions.size() == tensor::kRopeAxes * T) {
        std::copy(batch.rope_positions.begin(), batch.rope_positions.end(), rp);
      } else {
        for (int a = 0; a < tensor::kRopeAxes; ++a)
          std::copy(batch.positions.begin(), batch.positions.end(), rp + a * T);
      }
      meta.rope_positions = meta_dev + off_rope_positions;
      end = off_rope_positions + tensor::kRopeAxes * T;
    }
    const bool attends = batch.attend_until.size() == T && T > 0;
    if (attends) {
      std::copy(batch.attend_until.begin(), batch.attend_until.end(), h + off_attend_until);
      meta.attend_until = meta_dev + off_attend_until;
      end = off_attend_until + T;
    }
    if (end > off_rope_positions) {
      check(cudaMemcpyAsync(meta_dev + off_rope_positions, h + off_rope_positions,
                            (end - off_rope_positions) * sizeof(std::int32_t),
                            cudaMemcpyHostToDevice, stream),
            "multimodal metadata upload");
    }
    return attends || !batch.embeds.empty();
  }
};

CudaBackend::CudaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaBackend::~CudaBackend() {
  if (impl_ && impl_->on_destroy) impl_->on_destroy();
}

CUstream_st* CudaBackend::stream() const {
  return impl_->stream;
}
bool CudaBackend::replaying_step() const {
  return impl_->replaying;
}
std::uint64_t CudaBackend::stacked_gemms() const {
  return impl_->stacked_runs;
}
std::uint64_t CudaBackend::split_gemms() const {
  return impl_->split_runs;
}
std::uint64_t CudaBackend::half_mlps() const {
  return impl_->half_mlp_runs;
}
std::uint64_t CudaBackend::norm_quantized_inputs() const {
  return impl_->held_x_runs;
}
std::uint64_t CudaBackend::device_moe_layers() const {
  return impl_->moe_device_runs;
}

bool CudaBackend::shares_sampled_ids() const {
  return impl_->tp_overlap;
}

// Every logit row's id, whatever `rows` asks: a captured decode graph
// replays the broadcast it recorded, so its length may not vary with the
// step (the ranks of a group are planned with the same capacity).
core::Status CudaBackend::share_sampled_ids(tensor::Communicator& comm, int rows) {
  const Impl& m = *impl_;
  const int count = std::max(m.capacity.max_logit_rows, 1);
  if (rows < 0 || rows > count) {
    return core::Status(core::ErrorCode::kInvalidParams, "more sampled ids than logit rows");
  }
  return comm.broadcast_from_first(
      tensor::Tensor(m.argmax_dev, tensor::DType::kI32, {count}, tensor::Device::kCuda));
}

void CudaBackend::drop_graphs() {
  impl_->bind();
  impl_->destroy_graphs();
}

void CudaBackend::on_destroy(std::function<void()> callback) {
  impl_->on_destroy = std::move(callback);
}

void CudaBackend::attach_peers(const PeerExchange* peers) {
  impl_->peers = peers;
}

core::Result<std::unique_ptr<CudaBackend>> CudaBackend::create(const CudaOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  int count = 0;
  if (auto err = cudaGetDeviceCount(&count); err != cudaSuccess || count == 0) {
    return core::make_error(ErrorCode::kUnsupported, "no CUDA device: {}",
                            err == cudaSuccess ? "none found" : cudaGetErrorString(err));
  }
  if (options.device < 0 || options.device >= count) {
    return core::make_error(ErrorCode::kInvalidParams, "CUDA device {} does not exist ({} found)",
                            options.device, count);
  }
  MLXS_RETURN_IF_ERROR(cuda_status(cudaSetDevice(options.device), "set device"));
  cudaDeviceProp prop{};
  MLXS_RETURN_IF_ERROR(cuda_status(cudaGetDeviceProperties(&prop, options.device), "properties"));
  impl->device_name = prop.name;
  impl->sm_count = prop.multiProcessorCount;
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking), "stream"));
  MLXS_RETURN_IF_ERROR(lt_status(cublasLtCreate(&impl->lt), "create"));
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaEventCreateWithFlags(&impl->logits_ready, cudaEventDisableTiming), "event"));
  for (auto& mk : impl->marks) {
    MLXS_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&mk.begin), "event"));
    MLXS_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&mk.end), "event"));
  }
  if (const char* env = std::getenv("MLXS_CUDA_MOE_DEVICE_ROWS"); env != nullptr) {
    impl->moe_device_rows = std::atoi(env);
  }
  if (const char* env = std::getenv("MLXS_CUDA_MOE_TILE"); env != nullptr) {
    impl->moe_tile_override = std::atoi(env);
  }
  if (const char* env = std::getenv("MLXS_CUDA_MOE_SPLIT"); env != nullptr) {
    impl->moe_ksplit = std::atoi(env) != 0 ? 1 : 0;
  }
  if (const char* env = std::getenv("MLXS_QGEMM_MIN_ROWS"); env != nullptr) {
    impl->options.qgemm_min_rows = std::atoi(env);
  }
  if (const char* env = std::getenv("MLXS_FP8_GEMV_MAX_ROWS"); env != nullptr) {
    impl->fp8_gemv_max_rows = std::atoi(env);
  }
  // A/B switches: VAR=0 turns the feature off.
  const std::pair<const char*, bool Impl::*> switches[] = {
      {"MLXS_FP8_GEMM", &Impl::fp8_gemm},
      {"MLXS_FP8_OUTER_SCALES", &Impl::fp8_outer_scales},
      {"MLXS_FP8_FAST_ACCUM", &Impl::fp8_fast_accum},
      {"MLXS_GEMM_BIAS_EPILOGUE", &Impl::bias_epilogue},
      {"MLXS_CUDA_DECODE_KERNELS", &Impl::decode_kernels},
      {"MLXS_CUDA_FUSED_MLP", &Impl::fused_mlp},
      {"MLXS_CUDA_ROPE_FOLD", &Impl::rope_fold},
      {"MLXS_CUDA_PREFILL_TC", &Impl::prefill_tc},
      {"MLXS_CUDA_ACT_HALF", &Impl::act_half},
      {"MLXS_CUDA_ACT_QUANT", &Impl::fused_act_quant},
      {"MLXS_CUDA_FP8_HALF_MLP", &Impl::fp8_half_mlp},
      {"MLXS_CUDA_NORM_QUANT", &Impl::norm_quant},
      {"MLXS_GEMM_AUTOTUNE", &Impl::gemm_autotune},
      {"MLXS_CUDA_STACKED", &Impl::stacked_gemms},
      {"MLXS_CUDA_SPLITK", &Impl::fp8_splitk},
      {"MLXS_TP_OVERLAP", &Impl::tp_overlap},
      {"MLXS_CUDA_KV_SHIFT", &Impl::kv_shift},
  };
  for (const auto& [var, field] : switches) {
    if (switched_off(var)) impl.get()->*field = false;
  }
  // The environment overrides the options (--kv-cache-dtype) for A/B runs:
  // MLXS_CUDA_KV_F32=1 is an f32 cache even where fp8 was asked for, and
  // MLXS_CUDA_KV_FP8=1, read after it, an e4m3 one.
  if (const char* env = std::getenv("MLXS_CUDA_KV_F32");
      env != nullptr && std::string(env) == "1") {
    impl->options.kv_dtype = DType::kF32;
  }
  if (const char* env = std::getenv("MLXS_CUDA_KV_FP8");
      env != nullptr && std::string(env) == "1") {
    impl->options.kv_dtype = DType::kF8E4M3;
  }

  // MLXS_FP8_HELD_QUANTIZE=0: the two-pass activation quantize (A/B runs;
  // process-wide, as the switches below).
  k::set_fp8_held_quantize(!switched_off("MLXS_FP8_HELD_QUANTIZE"));
  // MLXS_CUDA_PREFILL_KEYS=64: the prefill attention's earlier key tiles.
  const char* prefill_keys = std::getenv("MLXS_CUDA_PREFILL_KEYS");
  k::set_prefill_key_tile(prefill_keys != nullptr ? std::atoi(prefill_keys) : 32);
  // MLXS_CUDA_FP8_WIDEN=all|values: the e4m3 decode paths before the
  // fragments were converted from the codes; MLXS_CUDA_FP8_LEAN=0: the
  // three-block decode kernel before the lean one; MLXS_CUDA_FP8_KEY_ROWS=0:
  // the untransposed kernel before the transposed one (A/B runs;
  // process-wide).
  {
    const char* env = std::getenv("MLXS_CUDA_FP8_WIDEN");
    const std::string v = env == nullptr ? "" : env;
    k::set_fp8_decode_widen(v == "all"      ? k::KvWiden::kAll
                            : v == "values" ? k::KvWiden::kValues
                                            : k::KvWiden::kNone,
                            !switched_off("MLXS_CUDA_FP8_LEAN"),
                            !switched_off("MLXS_CUDA_FP8_KEY_ROWS"),
                            !switched_off("MLXS_CUDA_FP8_TMA"));
  }
  if (const char* env = std::getenv("MLXS_CUDA_ROPE_HEAD_MAX_ROWS"); env != nullptr) {
    impl->rope_head_max_rows = std::atoi(env);
  }
  if (const char* env = std::getenv("MLXS_CUDA_DECODE_MAX_ROWS"); env != nullptr) {
    impl->decode_max_rows = std::max(1, std::atoi(env));
  }
  if (const char* env = std::getenv("MLXS_CUDA_DECODE_TC_MIN_ROWS"); env != nullptr) {
    impl->decode_tc_min_rows = std::max(1, std::atoi(env));
  }
  if (const char* env = std::getenv("MLXS_CUDA_STACKED_MAX_ROWS"); env != nullptr) {
    impl->stack_max_rows = std::atoi(env);
  }
  if (const char* env = std::getenv("MLXS_GEMM_TUNE_LOG"); env != nullptr) {
    impl->gemm_tune_log = std::string(env) == "1";
  }
  if (const char* env = std::getenv("MLXS_GEMM_TUNE_ROWS"); env != nullptr) {
    impl->gemm_tune_rows = std::max(1, std::atoi(env));
  }
  if (const char* env = std::getenv("MLXS_GEMM_CANDIDATES"); env != nullptr) {
    impl->gemm_candidates = std::clamp(std::atoi(env), 1, kMaxGemmCandidates);
  }
  if (const char* env = std::getenv("MLXS_CUDA_DECODE_SPLIT_ROWS"); env != nullptr) {
    impl->decode_split_rows = std::max(1, std::atoi(env));
  }
  if (const char* env = std::getenv("MLXS_CUDA_DECODE_SPLIT_MIN_KEYS"); env != nullptr) {
    impl->decode_split_min_keys = std::max(16, std::atoi(env));
  }
  if (const char* env = std::getenv("MLXS_CUDA_DECODE_SPLIT_MAX_KEYS"); env != nullptr) {
    impl->decode_split_max_keys = std::max(16, std::atoi(env));
  }
  if (const char* env = std::getenv("MLXS_CUDA_OP_TIMING");
      env != nullptr && std::string(env) == "1") {
    impl->op_timing = true;
    impl->options.graphs = false;
    cudaEventCreate(&impl->ev_start);
    cudaEventCreate(&impl->ev_stop);
  }
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMalloc(&impl->lt_workspace, impl->lt_workspace_bytes), "workspace"));
  MLXS_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&impl->tune_start), "tuning event"));
  MLXS_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&impl->tune_stop), "tuning event"));
  Impl* raw = impl.get();
  impl->encoder = std::make_unique<CudaEncoderOps>(
      options.device, impl->stream, options.exact_f32,
      [raw](cudaError_t err, const char* what) { raw->check(err, what); },
      [raw](const char* name, bool done) { raw->time_op(name, done); });
  return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(impl)));
}

std::string CudaBackend::describe() const {
  return fmt::format("cuda ({}, {} SMs)", impl_->device_name, impl_->sm_count);
}

bool CudaBackend::computes_with(DType dtype) const {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

core::Result<std::unique_ptr<tensor::DeviceBuffer>> CudaBackend::allocate(std::size_t bytes) {
  impl_->bind();
  void* p = nullptr;
  if (auto err = cudaMalloc(&p, std::max<std::size_t>(bytes, 16)); err != cudaSuccess) {
    return core::make_error(ErrorCode::kModelLoadError, "out of GPU memory allocating {} bytes: {}",
                            bytes, cudaGetErrorString(err));
  }
  cudaMemset(p, 0, bytes);
  return std::unique_ptr<tensor::DeviceBuffer>(new CudaBuffer(p, bytes));
}

core::Result<tensor::Weight> CudaBackend::import_quantized(const tensor::Weight& host) {
  impl_->bind();
  const tensor::QuantSpec& q = host.quant;
  const auto param_ok = [](const Tensor& t) {
    return t.dtype == DType::kF32 || t.dtype == DType::kF16 || t.dtype == DType::kBF16;
  };
  if (!impl_->options.exact_f32 && q.format == tensor::QuantFormat::kAffine &&
      k::qgemv_supports(q.bits, static_cast<int>(q.group_size), q.in_features) &&
      q.block_rows == 1 && param_ok(q.scales) && q.biases.dtype == q.scales.dtype &&
      q.scales.numel() == host.out_features() * q.groups_per_row() &&
      q.biases.numel() == q.scales.numel()) {
    // Kept packed: the quantized GEMV reads the stored bytes.
    tensor::Weight out = host;
    MLXS_ASSIGN_OR_RETURN(out.w, impl_->upload_raw(host.w));
    MLXS_ASSIGN_OR_RETURN(out.quant.scales, impl_->upload_raw(q.scales));
    MLXS_ASSIGN_OR_RETURN(out.quant.biases, impl_->upload_raw(q.biases));
    if (!host.bias.empty()) {
      MLXS_ASSIGN_OR_RETURN(out.bias, import_tensor(host.bias, true));
    }
    if (impl_->dequant_scratch == nullptr) {
      impl_->dequant_scratch_bytes = std::size_t{64} << 20;
      MLXS_ASSIGN_OR_RETURN(impl_->dequant_scratch,
                            impl_->device_alloc<std::uint8_t>(impl_->dequant_scratch_bytes));
    }
    return out;
  }
  if (q.format == tensor::QuantFormat::kFp8 && host.w.dtype == DType::kF8E4M3 &&
      k::fp8_exact_supports(static_cast<int>(q.group_size), q.in_features) &&
      host.w.cols() == q.in_features) {
    // Kept as e4m3 bytes with f32 scales (exact: any stored scale dtype
    // widens exactly), in exact_f32 too (its kernel multiplies in f32).
    tensor::Weight out = host;
    MLXS_ASSIGN_OR_RETURN(out.w, impl_->upload_raw(host.w));
    MLXS_ASSIGN_OR_RETURN(out.quant.scales, import_tensor(q.scales, true));
    impl_->has_fp8 = true;
    // Imported after the step was planned (a bench, a second model): x's
    // e4m3 scratch now, or every FP8 GEMM would take bf16 tiles.
    if (impl_->fp8_x == nullptr && impl_->half_scratch != nullptr) {
      MLXS_RETURN_IF_ERROR(impl_->alloc_fp8_x());
    }
    if (!host.bias.empty()) {
      MLXS_ASSIGN_OR_RETURN(out.bias, import_tensor(host.bias, true));
    }
    if (impl_->dequant_scratch == nullptr) {
      impl_->dequant_scratch_bytes = std::size_t{64} << 20;
      MLXS_ASSIGN_OR_RETURN(impl_->dequant_scratch,
                            impl_->device_alloc<std::uint8_t>(impl_->dequant_scratch_bytes));
    }
    return out;
  }
  // Other formats (3/5/6 bits, FP8 of odd widths) and exact_f32 are dequantized
  // once at load to bf16: correct within bf16's rounding (2^-9 relative),
  // at the memory and bandwidth of a bf16 model; exact_f32 keeps them f32
  // (exact: the parity tests' precision).
  const std::int64_t rows = host.out_features();
  const std::int64_t cols = host.in_features();
  std::vector<float> dense(static_cast<std::size_t>(rows * cols));
  tensor::dequantize_rows(host.w, host.quant, 0, rows, dense.data());
  tensor::Weight out;
  if (impl_->options.exact_f32) {
    MLXS_ASSIGN_OR_RETURN(out.w,
                          import_tensor(Tensor(dense.data(), DType::kF32, {rows, cols}), false));
  } else {
    std::vector<std::uint16_t> bf16(dense.size());
    for (std::size_t i = 0; i < dense.size(); ++i) bf16[i] = core::f32_to_bf16(dense[i]);
    MLXS_ASSIGN_OR_RETURN(out.w,
                          import_tensor(Tensor(bf16.data(), DType::kBF16, {rows, cols}), false));
  }
  if (!host.bias.empty()) {
    MLXS_ASSIGN_OR_RETURN(out.bias, import_tensor(host.bias, true));
  }
  return out;
}

core::Result<Tensor> CudaBackend::import_tensor(const Tensor& host, bool widen_to_f32) {
  impl_->bind();
  if (!computes_with(host.dtype) && host.dtype != DType::kF64) {
    return core::make_error(ErrorCode::kModelLoadError,
                            "tensor of dtype {} cannot be computed with",
                            tensor::dtype_name(host.dtype));
  }
  Tensor out = host;
  out.device = tensor::Device::kCuda;
  const auto n = static_cast<std::size_t>(host.numel());
  if (widen_to_f32 || host.dtype == DType::kF64) {
    std::vector<float> f(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (host.dtype == DType::kF32) {
        f[i] = host.as<const float>()[i];
      } else if (host.dtype == DType::kF16) {
        f[i] = core::f16_to_f32(host.as<const std::uint16_t>()[i]);
      } else if (host.dtype == DType::kBF16) {
        f[i] = core::bf16_to_f32(host.as<const std::uint16_t>()[i]);
      } else {
        f[i] = static_cast<float>(host.as<const double>()[i]);
      }
    }
    MLXS_ASSIGN_OR_RETURN(float* dst, impl_->device_alloc<float>(n));
    MLXS_RETURN_IF_ERROR(cuda_status(
        cudaMemcpy(dst, f.data(), n * sizeof(float), cudaMemcpyHostToDevice), "upload"));
    out.data = dst;
    out.dtype = DType::kF32;
    return out;
  }
  MLXS_ASSIGN_OR_RETURN(std::uint8_t * dst, impl_->device_alloc<std::uint8_t>(host.nbytes()));
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMemcpy(dst, host.data, host.nbytes(), cudaMemcpyHostToDevice), "upload"));
  out.data = dst;
  return out;
}

core::Status CudaBackend::plan_step(const tensor::StepCapacity& capacity) {
  impl_->bind();
  Impl& m = *impl_;
  m.capacity = capacity;
  // New scratch below: graphs captured on the old buffers must not replay.
  m.destroy_graphs();
  const auto T = static_cast<std::size_t>(std::max(capacity.max_tokens, 1));
  const auto S = static_cast<std::size_t>(std::max(capacity.max_seqs, 1));
  const auto R = static_cast<std::size_t>(std::max(capacity.max_logit_rows, 1));
  // Block tables: at worst one block per context position per sequence.
  m.tables_capacity = S * static_cast<std::size_t>(std::max(capacity.max_context, 1)) + S;
  m.off_tokens = 0;
  m.off_positions = m.off_tokens + T;
  m.off_row_seq = m.off_positions + T;
  m.off_seq_table = m.off_row_seq + T;
  m.off_logit_rows = m.off_seq_table + S;
  m.off_tables = m.off_logit_rows + R;
  m.off_rope_positions = m.off_tables + m.tables_capacity;
  m.off_attend_until = m.off_rope_positions + tensor::kRopeAxes * T;
  m.meta_ints = m.off_attend_until + T;
  cudaFreeHost(m.meta_host);
  m.meta_host = nullptr;
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMallocHost(&m.meta_host, 2 * m.meta_ints * sizeof(std::int32_t)), "pinned"));
  cudaFreeHost(m.logits_host);
  m.logits_host = nullptr;
  m.logits_host_floats =
      R * static_cast<std::size_t>(std::max<std::int64_t>(capacity.max_linear_out, 1));
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMallocHost(&m.logits_host, m.logits_host_floats * sizeof(float)), "pinned"));
  m.max_rows = R;
  m.mask_words =
      (static_cast<std::size_t>(std::max<std::int64_t>(capacity.max_linear_out, 1)) + 31) / 32;
  const std::size_t mask_ints = R * m.mask_words + R;
  cudaFreeHost(m.masks_host);
  m.masks_host = nullptr;
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMallocHost(&m.masks_host, mask_ints * sizeof(std::uint32_t)), "pinned"));
  cudaFreeHost(m.argmax_host);
  m.argmax_host = nullptr;
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMallocHost(&m.argmax_host, R * sizeof(std::int32_t)), "pinned"));
  MLXS_ASSIGN_OR_RETURN(m.masks_dev, m.device_alloc<std::uint32_t>(mask_ints));
  MLXS_ASSIGN_OR_RETURN(m.argmax_dev, m.device_alloc<std::int32_t>(R));
  cudaFreeHost(m.draws_host);
  m.draws_host = nullptr;
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMallocHost(&m.draws_host, R * sizeof(k::RowDraw)), "pinned"));
  MLXS_ASSIGN_OR_RETURN(m.draws_dev, m.device_alloc<k::RowDraw>(R));
  MLXS_ASSIGN_OR_RETURN(m.draw_weights, m.device_alloc<float>(m.logits_host_floats));
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMalloc(&m.meta_dev, m.meta_ints * sizeof(std::int32_t)), "metadata"));
  m.meta.tokens = m.meta_dev + m.off_tokens;
  m.meta.positions = m.meta_dev + m.off_positions;
  m.meta.row_seq = m.meta_dev + m.off_row_seq;
  m.meta.seq_table = m.meta_dev + m.off_seq_table;
  m.meta.logit_rows = m.meta_dev + m.off_logit_rows;
  m.meta.tables = m.meta_dev + m.off_tables;
  m.meta.prev_ids = m.argmax_dev;
  const auto in = static_cast<std::size_t>(std::max<std::int64_t>(capacity.max_linear_in, 1));
  MLXS_ASSIGN_OR_RETURN(m.half_scratch, m.device_alloc<std::uint16_t>(T * in));
  m.stack_out = nullptr;
  m.stack_out_cols = capacity.max_stacked_out;
  m.stack_rows = m.stack_out_cols > 0
                     ? std::clamp<std::int64_t>(m.stack_max_rows, 0, static_cast<std::int64_t>(T))
                     : 0;
  if (m.stack_rows > 0) {
    MLXS_ASSIGN_OR_RETURN(
        m.stack_out,
        m.device_alloc<float>(static_cast<std::size_t>(m.stack_rows * m.stack_out_cols)));
  }
  m.fp8_x = nullptr;
  m.fp8_x_scales = nullptr;
  if (m.has_fp8) MLXS_RETURN_IF_ERROR(m.alloc_fp8_x());
  // Split attention partials: up to kMaxSplits splits for small batches, one
  // split per token for large ones.
  const auto heads = static_cast<std::size_t>(std::max(capacity.max_heads, 1));
  const auto width = static_cast<std::size_t>(std::max(capacity.max_head_dim, 1) + 2);
  m.attn_partial_floats = std::max(kSplitBatch * kMaxSplits, T) * heads * width;
  MLXS_ASSIGN_OR_RETURN(m.attn_partial, m.device_alloc<float>(m.attn_partial_floats));
  MLXS_ASSIGN_OR_RETURN(m.attn_tickets, m.device_alloc<unsigned>(kSplitBatch * heads));
  MLXS_RETURN_IF_ERROR(cuda_status(
      cudaMemset(m.attn_tickets, 0, kSplitBatch * heads * sizeof(unsigned)), "attention tickets"));
  if (capacity.moe_experts > 0) {
    const auto E = static_cast<std::size_t>(capacity.moe_experts);
    const auto F = static_cast<std::size_t>(capacity.moe_ffn);
    const auto K = static_cast<std::size_t>(std::max(capacity.moe_top_k, 1));
    MLXS_ASSIGN_OR_RETURN(m.moe_logits, m.device_alloc<float>(T * E));
    MLXS_ASSIGN_OR_RETURN(m.moe_rows_dev, m.device_alloc<std::int32_t>(T * K));
    MLXS_ASSIGN_OR_RETURN(m.moe_weights_dev, m.device_alloc<float>(T * K));
    MLXS_ASSIGN_OR_RETURN(m.moe_in, m.device_alloc<float>(T * in));
    MLXS_ASSIGN_OR_RETURN(m.moe_gate, m.device_alloc<float>(T * F));
    MLXS_ASSIGN_OR_RETURN(m.moe_up, m.device_alloc<float>(T * F));
    MLXS_ASSIGN_OR_RETURN(m.moe_out, m.device_alloc<float>(T * in));
    MLXS_RETURN_IF_ERROR(
        cuda_status(cudaMallocHost(&m.moe_logits_host, T * E * sizeof(float)), "pinned"));
    MLXS_RETURN_IF_ERROR(
        cuda_status(cudaMallocHost(&m.moe_rows_host, T * K * sizeof(std::int32_t)), "pinned"));
    MLXS_RETURN_IF_ERROR(
        cuda_status(cudaMallocHost(&m.moe_weights_host, T * K * sizeof(float)), "pinned"));
    const auto D = std::min<std::size_t>(
        T, static_cast<std::size_t>(std::max(m.moe_device_rows, m.options.max_graph_batch)));
    m.moe_scratch_rows = static_cast<std::int64_t>(D);
    const std::size_t max_tiles = D * K + E;  // k::moe_max_tiles at any tile size
    MLXS_ASSIGN_OR_RETURN(m.moe_order, m.device_alloc<std::int32_t>(D * K));
    MLXS_ASSIGN_OR_RETURN(m.moe_tiles, m.device_alloc<int4>(max_tiles));
    MLXS_ASSIGN_OR_RETURN(m.moe_n_tiles, m.device_alloc<int>(1));
    MLXS_ASSIGN_OR_RETURN(m.moe_h, m.device_alloc<float>(D * K * F));
    MLXS_ASSIGN_OR_RETURN(m.moe_y, m.device_alloc<float>(D * K * in));
  }
  return Status::ok();
}

int CudaBackend::register_rope(const tensor::RopeSpec& spec) {
  Impl::Rope r;
  r.spec = spec;
  const std::size_t n = std::max<std::size_t>(spec.inv_freq.size(), 1);
  if (cudaMalloc(&r.inv_freq, n * sizeof(double)) == cudaSuccess) {
    cudaMemcpy(r.inv_freq, spec.inv_freq.data(), spec.inv_freq.size() * sizeof(double),
               cudaMemcpyHostToDevice);
  } else {
    impl_->check(cudaErrorMemoryAllocation, "rope table");
  }
  if (!spec.axis.empty()) {
    // Axes as int32 for the kernels; positions per axis come with each step.
    const std::vector<std::int32_t> axis(spec.axis.begin(), spec.axis.end());
    if (cudaMalloc(&r.axis, axis.size() * sizeof(std::int32_t)) == cudaSuccess) {
      cudaMemcpy(r.axis, axis.data(), axis.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice);
      impl_->multi_axis_rope = true;
    } else {
      impl_->check(cudaErrorMemoryAllocation, "rope axes");
    }
  }
  impl_->ropes.push_back(r);
  return static_cast<int>(impl_->ropes.size()) - 1;
}

core::Result<std::unique_ptr<tensor::KvStorage>> CudaBackend::create_kv_storage(
    const tensor::KvCacheShape& shape) {
  impl_->bind();
  if (shape.dtype != DType::kF32 && shape.dtype != DType::kBF16 && shape.dtype != DType::kF8E4M3)
    return Status(ErrorCode::kUnsupported, "the CUDA KV cache stores f32, bf16 or e4m3 only");
  const std::size_t scale_count =
      static_cast<std::size_t>(shape.layers) * 2 * static_cast<std::size_t>(shape.kv_heads);
  if (!shape.scales.empty() && shape.scales.size() != scale_count) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "KV cache scales: {} values for {} layers x 2 x {} kv heads",
                            shape.scales.size(), shape.layers, shape.kv_heads);
  }
  // Only a quantized cache stores x / scale; 16-bit and f32 ones keep x.
  std::unique_ptr<CudaBuffer> scales;
  if (shape.dtype == DType::kF8E4M3 && !shape.scales.empty()) {
    void* s = nullptr;
    const std::size_t bytes = scale_count * sizeof(float);
    if (auto err = cudaMalloc(&s, bytes); err != cudaSuccess) {
      return core::make_error(ErrorCode::kModelLoadError, "out of GPU memory for KV scales: {}",
                              cudaGetErrorString(err));
    }
    scales = std::make_unique<CudaBuffer>(s, bytes);
    MLXS_RETURN_IF_ERROR(cuda_status(
        cudaMemcpy(s, shape.scales.data(), bytes, cudaMemcpyHostToDevice), "KV scales"));
  }
  void* p = nullptr;
  if (auto err = cudaMalloc(&p, shape.bytes()); err != cudaSuccess) {
    return core::make_error(ErrorCode::kModelLoadError,
                            "out of GPU memory for a KV cache of {} bytes: {}", shape.bytes(),
                            cudaGetErrorString(err));
  }
  cudaMemset(p, 0, shape.bytes());
  return std::unique_ptr<tensor::KvStorage>(new CudaKvStorage(
      shape, std::make_unique<CudaBuffer>(p, shape.bytes()), std::move(scales), impl_->kv_shift));
}

DType CudaBackend::kv_dtype() const {
  return impl_->options.exact_f32 ? DType::kF32 : impl_->options.kv_dtype;
}

void CudaBackend::begin_step(const tensor::StepBatch& batch) {
  impl_->bind();
  Impl& m = *impl_;
  const Impl::OpScope timer(impl_.get(), "begin_step");
  // A step that returned no logits shares its mark with the next one; the
  // slot before the oldest unread one stays intact (its end starts the gap).
  if (m.marks_begun == m.marks_ended && m.marks_begun - m.marks_read < m.marks.size() - 1) {
    m.check(cudaEventRecord(m.marks[m.marks_begun % m.marks.size()].begin, m.stream), "event");
    ++m.marks_begun;
  }
  m.meta_slot ^= 1;
  std::int32_t* h = m.meta_host + static_cast<std::size_t>(m.meta_slot) * m.meta_ints;
  const auto T = batch.tokens.size();
  std::copy(batch.tokens.begin(), batch.tokens.end(), h + m.off_tokens);
  std::copy(batch.positions.begin(), batch.positions.end(), h + m.off_positions);
  std::copy(batch.logit_rows.begin(), batch.logit_rows.end(), h + m.off_logit_rows);
  std::size_t table_used = 0;
  int max_ctx = 1;
  m.step_multi_rows = false;
  m.step_single_rows = false;
  for (std::size_t s = 0; s < batch.seqs.size(); ++s) {
    max_ctx = std::max(max_ctx, batch.seqs[s].context_len);
    const auto& seq = batch.seqs[s];
    (seq.token_count > 1 ? m.step_multi_rows : m.step_single_rows) = true;
    for (std::int32_t i = 0; i < seq.token_count; ++i)
      h[m.off_row_seq + static_cast<std::size_t>(seq.token_begin + i)] =
          static_cast<std::int32_t>(s);
    h[m.off_seq_table + s] = static_cast<std::int32_t>(table_used);
    const auto n = static_cast<std::size_t>(seq.num_blocks);
    if (table_used + n > m.tables_capacity) {
      m.check(cudaErrorInvalidValue, "block tables exceed the planned capacity");
      return;
    }
    std::copy(seq.block_table, seq.block_table + n, h + m.off_tables + table_used);
    table_used += n;
  }
  m.step_tokens = static_cast<int>(T);
  m.step_logit_rows = static_cast<int>(batch.logit_rows.size());
  m.check(cudaMemcpyAsync(m.meta_dev, h, (m.off_tables + table_used) * sizeof(std::int32_t),
                          cudaMemcpyHostToDevice, m.stream),
          "metadata upload");
  const bool multimodal = m.upload_multimodal(batch, h);
  // Split sizes come in powers of two so that graphs can be reused.
  if (T <= kSplitBatch && m.decode_kernels) {
    const int target =
        std::clamp(m.decode_split_rows / static_cast<int>(T), 1, static_cast<int>(kMaxSplits) / 2);
    auto splits_of = [max_ctx](int len) { return (max_ctx + len - 1) / len; };
    m.attn_split_len = m.decode_split_min_keys;
    while (splits_of(m.attn_split_len) > target && m.attn_split_len < m.decode_split_max_keys)
      m.attn_split_len <<= 1;
    while (splits_of(m.attn_split_len) > static_cast<int>(kMaxSplits)) m.attn_split_len <<= 1;
    m.attn_splits = next_pow2(splits_of(m.attn_split_len));
  } else if (T <= kSplitBatch) {
    m.attn_split_len = kSplitMinKeys;
    while ((max_ctx + m.attn_split_len - 1) / m.attn_split_len > static_cast<int>(kMaxSplits))
      m.attn_split_len <<= 1;
    m.attn_splits = next_pow2((max_ctx + m.attn_split_len - 1) / m.attn_split_len);
  } else {
    m.attn_splits = 1;
    m.attn_split_len = 1 << 30;
  }
  // A pure decode step replays (or records) the graph of its batch size; the
  // metadata upload above stays outside it, so a replay reads this step's.
  const bool decode_only = T == batch.seqs.size() && batch.logit_rows.size() == T;
  if (m.options.graphs && decode_only && !multimodal && batch.kv != nullptr &&
      (m.capacity.moe_experts == 0 || (m.moe_device_seen && !m.moe_host_only)) &&
      static_cast<int>(T) <= m.options.max_graph_batch && m.error.is_ok()) {
    const auto* kv = dynamic_cast<const CudaKvStorage*>(batch.kv);
    m.graph_key = {static_cast<int>(T), m.attn_splits, m.attn_split_len,
                   kv != nullptr ? reinterpret_cast<std::uintptr_t>(kv->layout().base) : 0,
                   kv != nullptr ? kv->layout().kv_stride : 0};
    if (m.graphs.count(m.graph_key) != 0) {
      m.replaying = true;
    } else if (cudaStreamBeginCapture(m.stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
      m.capturing = true;
    }
  }
}

void CudaBackend::end_step() {
  Impl& m = *impl_;
  if (m.capturing) {
    m.capturing = false;
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(m.stream, &graph);
    cudaGraphExec_t exec = nullptr;
    if (end == cudaSuccess && m.error.is_ok() &&
        cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess) {
      m.graphs[m.graph_key] = exec;
      m.check(cudaGraphLaunch(exec, m.stream), "graph launch");
    } else {
      m.check(end, "graph capture");
      if (m.error.is_ok())
        m.error = Status(ErrorCode::kGenerationError, "CUDA graph instantiation failed");
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
  } else if (m.replaying) {
    m.replaying = false;
    m.check(cudaGraphLaunch(m.graphs[m.graph_key], m.stream), "graph launch");
  }
}

void CudaBackend::embed(const tensor::Weight& weight, float scale, Tensor out,
                        std::int64_t first_token) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "embed");
  const k::VocabRows rows{first_token, weight.out_features()};
  const auto K = static_cast<int>(weight.in_features());
  if (is_fp8(weight)) {  // kept as e4m3 at import
    impl_->check(k::fp8_embed(fp8_view(weight), K, rows, impl_->meta, impl_->step_tokens, scale,
                              out.as<float>(), impl_->stream),
                 "embed");
    return;
  }
  if (weight.quantized()) {  // kept packed at import
    impl_->check(k::embed_affine(affine_view(weight), K, rows, impl_->meta, impl_->step_tokens,
                                 scale, out.as<float>(), impl_->stream),
                 "embed");
    return;
  }
  const Tensor& table = weight.w;  // other quantized tables were dequantized at import
  impl_->check(k::embed(wtype(table.dtype), table.data, table.cols(), rows, impl_->meta,
                        impl_->step_tokens, scale, out.as<float>(), impl_->stream),
               "embed");
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, float offset, Tensor out) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "rms_norm");
  impl_->check(k::rms_norm(x.as<float>(), w.as<float>(), eps, offset, out.as<float>(), x.rows(),
                           static_cast<int>(x.cols()), impl_->stream),
               "rms_norm");
}

void CudaBackend::add_rms_norm(Tensor x, const Tensor& delta, const Tensor& w, float eps,
                               float offset, Tensor out) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "add_rms_norm");
  Impl& m = *impl_;
  if (m.norm_quantizes(x.rows(), x.cols()) &&
      k::add_rms_norm_quantize_supported(static_cast<int>(x.cols()), x.data, delta.data, w.data,
                                         out.data)) {
    m.check(k::add_rms_norm_quantize(x.as<float>(), delta.as<float>(), w.as<float>(), eps, offset,
                                     out.as<float>(), x.rows(), static_cast<int>(x.cols()), m.fp8_x,
                                     m.fp8_x_scales, m.stream, m.decode_kernels),
            "add_rms_norm");
    m.held_x = {out.as<float>(), x.rows(), x.cols(), m.op_seq};
    return;
  }
  impl_->check(
      k::add_rms_norm(x.as<float>(), delta.as<float>(), w.as<float>(), eps, offset, out.as<float>(),
                      x.rows(), static_cast<int>(x.cols()), impl_->stream, impl_->decode_kernels),
      "add_rms_norm");
}

Status CudaBackend::all_reduce_add_rms_norm(tensor::Communicator& comm, Tensor t, Tensor x,
                                            const Tensor& w, float eps, float offset, Tensor out) {
  const PeerExchange* peers = impl_->peers;
  if (peers == nullptr ||
      !PeerExchange::fits(x.rows(), x.cols(), {t.data, x.data, w.data, out.data})) {
    return Backend::all_reduce_add_rms_norm(comm, t, x, w, eps, offset, out);
  }
  if (peers->aborted()) {
    return Status(ErrorCode::kWorkerCrashed, "the tensor-parallel group was aborted");
  }
  if (impl_->replaying) return Status::ok();  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "all_reduce_add_rms_norm");
  impl_->check(peers->all_reduce_add_rms_norm(t.as<float>(), x.as<float>(), w.as<float>(), eps,
                                              offset, out.as<float>(), static_cast<int>(x.rows()),
                                              static_cast<int>(x.cols()), impl_->stream,
                                              impl_->decode_kernels),
               "all_reduce_add_rms_norm");
  return Status::ok();
}

void CudaBackend::head_rms_norm(Tensor x, int head_dim, const Tensor& w, float eps, float offset) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "head_rms_norm");
  impl_->check(k::rms_norm(x.as<float>(), w.as<float>(), eps, offset, x.as<float>(),
                           x.numel() / head_dim, head_dim, impl_->stream),
               "head_rms_norm");
}

void CudaBackend::linear(const Tensor& x, std::span<const tensor::LinearOut> outs) {
  if (impl_->replaying) return;  // the step's graph does the work
  // Timed per shape class: the tower's 4096-row GEMMs apart from decode's.
  const Impl::OpScope timer(impl_.get(), x.rows() >= 1024 ? "linear (>=1024 rows)" : "linear");
  impl_->linear(x.as<float>(), x.rows(), x.cols(), outs);
}

void CudaBackend::rope(Tensor x, int head_dim, int rope_id) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "rope");
  const auto& r = impl_->ropes[static_cast<std::size_t>(rope_id)];
  impl_->check(k::rope(x.as<float>(), static_cast<int>(x.rows()),
                       static_cast<int>(x.cols() / head_dim), head_dim, r.spec.rot_dim, r.inv_freq,
                       r.axis, r.spec.attention_factor, impl_->meta, impl_->stream),
               "rope");
}

void CudaBackend::kv_write(tensor::KvStorage& kv, int layer, const Tensor& k_, const Tensor& v) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "kv_write");
  const auto& layout = static_cast<CudaKvStorage&>(kv).layout();
  impl_->check(k::kv_write(layout, layer, k_.as<float>(), v.as<float>(), impl_->step_tokens,
                           impl_->meta, impl_->stream),
               "kv_write");
}

void CudaBackend::rope_and_cache(Tensor q, Tensor k_, const Tensor& v, int head_dim, int rope_id,
                                 tensor::KvStorage& kv, int layer) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "rope_and_cache");
  const auto& r = impl_->ropes[static_cast<std::size_t>(rope_id)];
  const auto& layout = static_cast<CudaKvStorage&>(kv).layout();
  impl_->check(
      k::rope_and_cache(q.as<float>(), k_.as<float>(), v.as<float>(), impl_->step_tokens,
                        static_cast<int>(q.cols() / head_dim), head_dim, r.spec.rot_dim, r.inv_freq,
                        r.axis, r.spec.attention_factor, layout, layer, impl_->meta, impl_->stream,
                        impl_->decode_kernels && impl_->step_tokens <= impl_->rope_head_max_rows),
      "rope_and_cache");
}

void CudaBackend::gated_linear(Tensor gate, const Tensor& up, tensor::Activation act,
                               const tensor::LinearOut& down) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "gated_linear");
  const std::int64_t M = gate.rows();
  const std::int64_t K = gate.cols();
  const k::Act a = kernel_act(act);
  // A 16-bit down projection on the GEMM path takes the product straight in
  // its input type: one pass over gate and up instead of the f32 product,
  // then its conversion (two more passes over M x K; about 2.5 ms of an 8B
  // 2,048-token prefill).
  const tensor::Weight& w = *down.weight;
  const bool half_gemm = impl_->act_half && !w.quantized() &&
                         (w.w.dtype == DType::kBF16 || w.w.dtype == DType::kF16) &&
                         !impl_->takes_gemv(M) && gate.numel() % 4 == 0 && aligned16(gate.data) &&
                         aligned16(up.data);
  if (half_gemm) {
    impl_->check(k::gated_act_half(a, gate.as<float>(), up.as<float>(), wtype(w.w.dtype),
                                   impl_->half_scratch, gate.numel(), impl_->stream),
                 "gated_activation");
    impl_->check(impl_->gemm_16bit(impl_->half_scratch, w, M, K, down.out.as<float>()));
    return;
  }
  // An FP8 down projection on cuBLASLt's FP8 GEMM: the activation writes the
  // GEMM's per-token e4m3 input itself, one pass over gate and up instead of
  // the f32 product and the quantize pass that reads it again. H200, 8B in
  // FP8: prefill of 512 x 1k prompts +5%; a 512-row decode step the same
  // (its 29 MB product stayed in L2).
  if (is_fp8(w) && impl_->fused_act_quant) {
    const k::Fp8Segment seg{fp8_view(w), w.bias.empty() ? nullptr : w.bias.as<float>(),
                            down.out.as<float>()};
    auto* plan = impl_->fp8_gemm_takes(M, K, seg.w) ? impl_->fp8_gemm_plan(M, K, seg) : nullptr;
    if (plan != nullptr) {
      impl_->check(k::fp8_quantize_gated_rows(a, gate.as<float>(), up.as<float>(),
                                              static_cast<int>(M), static_cast<int>(K),
                                              impl_->fp8_x, impl_->fp8_x_scales, impl_->stream),
                   "gated_activation");
      if (!impl_->fp8_splitk_run(M, K, seg)) impl_->fp8_gemm_run(*plan, M, seg);
      return;
    }
  }
  // Otherwise the activation is its own pass over M x K floats
  // (microseconds): fused into the down projection's input loads, every warp
  // would redo it for the whole row (measured 4.5x slower on H200 at K = 14336).
  impl_->check(k::gated_act(a, gate.as<float>(), up.as<float>(), gate.as<float>(), gate.numel(),
                            impl_->stream, impl_->decode_kernels),
               "gated_activation");
  impl_->linear(gate.as<float>(), M, K, std::span<const tensor::LinearOut>(&down, 1));
}

void CudaBackend::gated_mlp(const Tensor& x, const tensor::Weight& gate, const tensor::Weight& up,
                            tensor::Activation act, Tensor gate_out, Tensor up_out,
                            const tensor::LinearOut& down) {
  if (impl_->fp8_mlp_half(x, gate, up, kernel_act(act), gate_out, up_out, down)) return;
  // One input row of 16-bit weights: the gate and up GEMV writes
  // act(gate) * up itself (a block per row pair), and the activation pass
  // between it and the down projection is gone.
  const bool fused = impl_->fused_mlp && x.rows() == 1 && impl_->takes_gemv(1) &&
                     !impl_->options.exact_f32 && !gate.quantized() && !up.quantized() &&
                     gate.w.dtype == up.w.dtype && gate.w.shape == up.w.shape &&
                     k::gemv_gated_supports(wtype(gate.w.dtype), x.data, gate.w.data, up.w.data,
                                            static_cast<int>(x.cols()));
  if (!fused) {
    tensor::Backend::gated_mlp(x, gate, up, act, gate_out, up_out, down);
    return;
  }
  if (impl_->replaying) return;  // the step's graph does the work
  {
    const Impl::OpScope timer(impl_.get(), "gated_projections");
    const auto n = static_cast<int>(gate.out_features());
    const k::GemvSegment g{gate.w.data, gate.bias.empty() ? nullptr : gate.bias.as<float>(),
                           gate_out.as<float>(), n};
    const k::GemvSegment u{up.w.data, up.bias.empty() ? nullptr : up.bias.as<float>(),
                           up_out.as<float>(), n};
    impl_->check(k::gemv_gated(wtype(gate.w.dtype), x.as<float>(), static_cast<int>(x.cols()), g, u,
                               kernel_act(act), impl_->stream),
                 "gated gemv");
  }
  const Impl::OpScope timer(impl_.get(), "linear");
  impl_->linear(gate_out.as<float>(), 1, gate.out_features(),
                std::span<const tensor::LinearOut>(&down, 1));
}

void CudaBackend::rope_cache_attention(Tensor q, Tensor k_, const Tensor& v, int head_dim,
                                       int rope_id, tensor::KvStorage& kv, int layer,
                                       const tensor::AttentionSpec& spec, Tensor out) {
  // Pure decode steps on the tensor-core decode kernel: the queries and the
  // new keys are rotated, and the keys and values appended, inside it (a
  // kernel less a layer, and every tile of earlier keys loads before the
  // QKV projection ends). Other steps: the two ops. Only unsplit steps:
  // one H200, 8B bf16 at 1k-token prompts, batch 1 (8 key splits) lost
  // 2.3% folded, batch 32 (4 splits) +0.3%, while unsplit steps gained
  // (batch 128 +0.8%, 32-token prompts: the 1B +1.2%, the 8B in int4 +1.6%).
  const auto& r = impl_->ropes[static_cast<std::size_t>(rope_id)];
  const auto& layout = static_cast<const CudaKvStorage&>(kv).layout();
  const bool fold = impl_->rope_fold && impl_->attn_splits == 1 && !impl_->step_multi_rows &&
                    impl_->meta.attend_until == nullptr && r.axis == nullptr &&
                    impl_->decode_on_tensor_cores(spec, layout) &&
                    k::attention_decode_tc_folds(spec.n_heads, head_dim, r.spec.rot_dim, layout);
  if (!fold) {
    tensor::Backend::rope_cache_attention(q, k_, v, head_dim, rope_id, kv, layer, spec, out);
    return;
  }
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "attention");
  if (!impl_->attention_workspace_fits(spec)) return;
  const k::RopeFold f{k_.as<float>(), v.as<float>(), r.inv_freq, r.spec.rot_dim,
                      r.spec.attention_factor};
  impl_->check(k::attention_decode_tc_folded(
                   layout, layer, q.as<float>(), out.as<float>(), impl_->step_tokens, spec.n_heads,
                   spec.head_dim, spec.scale, spec.softcap, spec.window, impl_->attn_splits,
                   impl_->attn_split_len, impl_->meta, impl_->attn_partial, impl_->attn_tickets, f,
                   impl_->stream),
               "attention (decode, RoPE folded)");
}

void CudaBackend::attention(const tensor::KvStorage& kv, int layer, const Tensor& q,
                            const tensor::AttentionSpec& spec, Tensor out) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "attention");
  const auto& layout = static_cast<const CudaKvStorage&>(kv).layout();
  if (!impl_->attention_workspace_fits(spec)) return;
  // Prefill chunks on the tensor cores (bf16 caches); the one-row sequences
  // of the step, if any, then go to the per-row kernels below.
  const bool tc = impl_->prefill_tc && impl_->step_multi_rows &&
                  k::attention_prefill_supported(spec.n_heads, spec.head_dim, layout);
  if (tc) {
    impl_->check(k::attention_prefill(layout, layer, q.as<float>(), out.as<float>(),
                                      impl_->step_tokens, spec.n_heads, spec.head_dim, spec.scale,
                                      spec.softcap, spec.window, impl_->meta, impl_->stream),
                 "attention (prefill)");
    if (!impl_->step_single_rows) return;
  }
  // The one-row sequences: the tensor-core decode kernel, else the CUDA-core
  // one (the same contract), else the per-row kernels.
  const auto decode = [&]() -> decltype(&k::attention_decode) {
    if (impl_->decode_on_tensor_cores(spec, layout)) return &k::attention_decode_tc;
    if (impl_->decode_kernels && impl_->step_tokens <= impl_->decode_max_rows &&
        k::attention_decode_supported(spec.n_heads, spec.head_dim, layout)) {
      return &k::attention_decode;
    }
    return nullptr;
  }();
  if (decode != nullptr) {
    impl_->check(decode(layout, layer, q.as<float>(), out.as<float>(), impl_->step_tokens,
                        spec.n_heads, spec.head_dim, spec.scale, spec.softcap, spec.window,
                        impl_->attn_splits, impl_->attn_split_len, impl_->meta, impl_->attn_partial,
                        impl_->attn_tickets, impl_->stream, tc),
                 "attention (decode)");
    return;
  }
  impl_->check(
      k::attention(layout, layer, q.as<float>(), out.as<float>(), impl_->step_tokens, spec.n_heads,
                   spec.head_dim, spec.scale, spec.softcap, spec.window, impl_->attn_splits,
                   impl_->attn_split_len, impl_->meta, impl_->attn_partial, impl_->stream, tc),
      "attention");
}

void CudaBackend::gated_activation(const Tensor& gate, const Tensor& up, tensor::Activation act,
                                   Tensor out) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "gated_activation");
  const k::Act a = kernel_act(act);
  impl_->check(k::gated_act(a, gate.as<float>(), up.as<float>(), out.as<float>(), gate.numel(),
                            impl_->stream),
               "gated_activation");
}

void CudaBackend::moe(const Tensor& x, const tensor::MoeSpec& spec, Tensor out) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "moe");
  Impl& m = *impl_;
  const std::int64_t T = x.rows();
  const std::int64_t H = x.cols();
  const auto E = static_cast<int>(spec.gate.size());
  const int topk = spec.top_k;
  Tensor logits(m.moe_logits, DType::kF32, {T, E}, tensor::Device::kCuda);
  const tensor::LinearOut router{spec.router, logits};
  m.linear(x.as<float>(), T, H, std::span<const tensor::LinearOut>(&router, 1));
  if (m.moe_on_device(x, spec, out)) {
    return;
  }
  // Routing on the host (softmax over experts, top-k, renormalise).
  m.check(cudaMemcpyAsync(m.moe_logits_host, m.moe_logits,
                          static_cast<std::size_t>(T * E) * sizeof(float), cudaMemcpyDeviceToHost,
                          m.stream),
          "router logits");
  m.check(cudaStreamSynchronize(m.stream), "router sync");
  std::vector<std::int32_t> choice(static_cast<std::size_t>(T * topk));
  std::vector<float> weight(static_cast<std::size_t>(T * topk));
  for (std::int64_t t = 0; t < T; ++t) {
    const float* p = m.moe_logits_host + t * E;
    float mx = p[0];
    for (int e = 1; e < E; ++e) mx = std::max(mx, p[e]);
    double sum = 0;
    for (int e = 0; e < E; ++e) sum += std::exp(static_cast<double>(p[e]) - mx);
    for (int i = 0; i < topk; ++i) {
      int best = -1;
      for (int e = 0; e < E; ++e) {
        bool taken = false;
        for (int j = 0; j < i; ++j) taken |= choice[static_cast<std::size_t>(t * topk + j)] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      choice[static_cast<std::size_t>(t * topk + i)] = best;
      weight[static_cast<std::size_t>(t * topk + i)] =
          static_cast<float>(std::exp(static_cast<double>(p[best]) - mx) / sum);
    }
    if (spec.norm_topk_prob) {
      double top = 0;
      for (int i = 0; i < topk; ++i) top += weight[static_cast<std::size_t>(t * topk + i)];
      for (int i = 0; i < topk; ++i) {
        auto& w = weight[static_cast<std::size_t>(t * topk + i)];
        w = static_cast<float>(w / top);
      }
    }
  }
  m.check(k::fill(out.as<float>(), 0.0f, T * H, m.stream), "moe zero");
  // Rows grouped by expert; one upload for all groups.
  std::vector<int> count(static_cast<std::size_t>(E), 0), start(static_cast<std::size_t>(E) + 1, 0);
  for (auto c : choice) ++count[static_cast<std::size_t>(c)];
  for (int e = 0; e < E; ++e)
    start[static_cast<std::size_t>(e) + 1] =
        start[static_cast<std::size_t>(e)] + count[static_cast<std::size_t>(e)];
  std::vector<int> fill_pos(start.begin(), start.end() - 1);
  for (std::int64_t t = 0; t < T; ++t) {
    for (int i = 0; i < topk; ++i) {
      const auto c = static_cast<std::size_t>(choice[static_cast<std::size_t>(t * topk + i)]);
      const auto at = static_cast<std::size_t>(fill_pos[c]++);
      m.moe_rows_host[at] = static_cast<std::int32_t>(t);
      m.moe_weights_host[at] = weight[static_cast<std::size_t>(t * topk + i)];
    }
  }
  const auto routed = static_cast<std::size_t>(T * topk);
  m.check(cudaMemcpyAsync(m.moe_rows_dev, m.moe_rows_host, routed * sizeof(std::int32_t),
                          cudaMemcpyHostToDevice, m.stream),
          "moe rows");
  m.check(cudaMemcpyAsync(m.moe_weights_dev, m.moe_weights_host, routed * sizeof(float),
                          cudaMemcpyHostToDevice, m.stream),
          "moe weights");
  for (int e = 0; e < E; ++e) {
    const int n = count[static_cast<std::size_t>(e)];
    if (n == 0) continue;
    const int s0 = start[static_cast<std::size_t>(e)];
    m.check(k::gather_rows(x.as<float>(), m.moe_rows_dev + s0, n, H, m.moe_in, m.stream),
            "moe gather");
    const auto& gw = spec.gate[static_cast<std::size_t>(e)];
    const std::int64_t F = gw.out_features();
    Tensor g(m.moe_gate, DType::kF32, {n, F}, tensor::Device::kCuda);
    Tensor u(m.moe_up, DType::kF32, {n, F}, tensor::Device::kCuda);
    const tensor::LinearOut gu[2] = {{&gw, g}, {&spec.up[static_cast<std::size_t>(e)], u}};
    m.linear(m.moe_in, n, H, gu);
    gated_activation(g, u, spec.activation, g);
    Tensor d(m.moe_out, DType::kF32, {n, H}, tensor::Device::kCuda);
    const tensor::LinearOut down{&spec.down[static_cast<std::size_t>(e)], d};
    m.linear(m.moe_gate, n, F, std::span<const tensor::LinearOut>(&down, 1));
    m.check(k::scatter_add_rows(m.moe_out, m.moe_rows_dev + s0, m.moe_weights_dev + s0, n, H,
                                out.as<float>(), m.stream),
            "moe scatter");
  }
}

void CudaBackend::add(Tensor x, const Tensor& y) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "add");
  impl_->check(k::add(x.as<float>(), y.as<float>(), x.numel(), impl_->stream), "add");
}

void CudaBackend::gather_logit_rows(const Tensor& x, Tensor out) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "gather");
  impl_->check(k::gather_rows(x.as<float>(), impl_->meta.logit_rows, impl_->step_logit_rows,
                              x.cols(), out.as<float>(), impl_->stream),
               "gather");
}

void CudaBackend::softcap(Tensor x, float cap) {
  if (impl_->replaying) return;  // the step's graph does the work
  const Impl::OpScope timer(impl_.get(), "softcap");
  impl_->check(k::softcap(x.as<float>(), cap, x.numel(), impl_->stream), "softcap");
}

core::Status CudaBackend::copy_to_host(const Tensor& src, void* dst) {
  impl_->check(cudaMemcpyAsync(dst, src.data, src.nbytes(), cudaMemcpyDeviceToHost, impl_->stream),
               "download");
  impl_->check(cudaStreamSynchronize(impl_->stream), "sync");
  return take_error();
}

core::Status CudaBackend::upload(const void* src, Tensor dst) {
  // Pageable host memory: the copy is staged before the call returns, so the
  // caller may reuse `src` at once.
  impl_->check(cudaMemcpyAsync(dst.data, src, dst.nbytes(), cudaMemcpyHostToDevice, impl_->stream),
               "upload");
  return take_error();
}

tensor::EncoderOps* CudaBackend::encoder() {
  return impl_->encoder.get();
}

core::Status CudaBackend::launch_logits(const Tensor& logits, const LogitsRequest& request) {
  impl_->bind();
  Impl& m = *impl_;
  m.logits_launched = false;
  const auto rows = static_cast<std::size_t>(logits.shape[0]);
  const auto vocab = static_cast<std::size_t>(logits.shape[1]);
  const std::size_t masked = request.masked_rows.size();
  const std::size_t words = request.mask_words;
  if (rows > m.max_rows || rows * vocab > m.logits_host_floats ||
      request.full_rows.size() != rows || masked > rows ||
      (masked > 0 && (words > m.mask_words || request.masks.size() < masked * words))) {
    return Status(ErrorCode::kInternalError, "launch_logits: request does not match the logits");
  }
  auto* dev = static_cast<float*>(logits.data);
  if (masked > 0) {
    for (std::size_t i = 0; i < masked; ++i) {
      if (request.masked_rows[i] < 0 || static_cast<std::size_t>(request.masked_rows[i]) >= rows) {
        return Status(ErrorCode::kInternalError, "launch_logits: masked row out of range");
      }
    }
    std::uint32_t* row_slot = m.masks_host + m.max_rows * m.mask_words;
    std::copy_n(request.masks.data(), masked * words, m.masks_host);
    std::copy_n(request.masked_rows.data(), masked, reinterpret_cast<std::int32_t*>(row_slot));
    const auto* rows_dev =
        reinterpret_cast<const std::int32_t*>(m.masks_dev + m.max_rows * m.mask_words);
    m.check(cudaMemcpyAsync(m.masks_dev, m.masks_host, masked * words * sizeof(std::uint32_t),
                            cudaMemcpyHostToDevice, m.stream),
            "mask upload");
    m.check(cudaMemcpyAsync(const_cast<std::int32_t*>(rows_dev), row_slot,
                            masked * sizeof(std::int32_t), cudaMemcpyHostToDevice, m.stream),
            "mask upload");
    m.check(k::apply_masks(dev, static_cast<std::int64_t>(vocab), rows_dev, m.masks_dev,
                           static_cast<std::int64_t>(words), static_cast<int>(masked), m.stream),
            "apply_masks");
  }
  const std::size_t drawn = request.draws.size();
  if (drawn > rows) {
    return Status(ErrorCode::kInternalError, "launch_logits: more draws than rows");
  }
  if (std::find(request.full_rows.begin(), request.full_rows.end(), 0) != request.full_rows.end()) {
    m.check(k::row_argmax(dev, static_cast<std::int64_t>(vocab), static_cast<int>(rows),
                          m.argmax_dev, m.stream),
            "row_argmax");
    if (drawn > 0) {
      // Drawn rows overwrite their argmax (the kernel runs after it).
      for (std::size_t i = 0; i < drawn; ++i) {
        const auto& d = request.draws[i];
        if (d.row < 0 || static_cast<std::size_t>(d.row) >= rows ||
            request.full_rows[static_cast<std::size_t>(d.row)] != 0 || !(d.temperature > 0.0f)) {
          return Status(ErrorCode::kInternalError, "launch_logits: a draw does not fit its row");
        }
        m.draws_host[i] = k::RowDraw{d.row, d.temperature, d.top_k, d.top_p, d.min_p, d.uniform};
      }
      m.check(cudaMemcpyAsync(m.draws_dev, m.draws_host, drawn * sizeof(k::RowDraw),
                              cudaMemcpyHostToDevice, m.stream),
              "draw upload");
      m.check(k::sample_rows(dev, static_cast<std::int64_t>(vocab), m.draws_dev,
                             static_cast<int>(drawn), m.draw_weights, m.argmax_dev, m.stream),
              "sample_rows");
    }
    m.check(cudaMemcpyAsync(m.argmax_host, m.argmax_dev, rows * sizeof(std::int32_t),
                            cudaMemcpyDeviceToHost, m.stream),
            "download");
  }
  // Whole rows only where the host samples them, one copy per run of rows.
  for (std::size_t r = 0; r < rows;) {
    if (request.full_rows[r] == 0) {
      ++r;
      continue;
    }
    std::size_t end = r;
    while (end < rows && request.full_rows[end] != 0) ++end;
    m.check(cudaMemcpyAsync(m.logits_host + r * vocab, dev + r * vocab,
                            (end - r) * vocab * sizeof(float), cudaMemcpyDeviceToHost, m.stream),
            "download");
    r = end;
  }
  // collect_logits waits for this point only: steps queued after it (the
  // engine's next step) keep the device busy meanwhile.
  m.check(cudaEventRecord(m.logits_ready, m.stream), "event");
  if (m.marks_ended < m.marks_begun) {
    m.check(cudaEventRecord(m.marks[m.marks_ended % m.marks.size()].end, m.stream), "event");
    ++m.marks_ended;
  }
  m.logits_launched = true;
  return Status::ok();
}

core::Result<tensor::Backend::HostLogits> CudaBackend::collect_logits() {
  impl_->bind();
  Impl& m = *impl_;
  if (!m.logits_launched) {
    return Status(ErrorCode::kInternalError, "collect_logits: nothing was launched");
  }
  m.check(cudaEventSynchronize(m.logits_ready), "sync");
  MLXS_RETURN_IF_ERROR(take_error());
  // Every ended mark up to the logits just collected has completed.
  for (; m.marks_read < m.marks_ended; ++m.marks_read) {
    const auto& mk = m.marks[m.marks_read % m.marks.size()];
    float busy = 0, idle = 0;
    if (cudaEventElapsedTime(&busy, mk.begin, mk.end) != cudaSuccess) continue;
    m.timeline.busy_ms += busy;
    ++m.timeline.steps;
    if (m.marks_read == 0) continue;
    const auto& prev = m.marks[(m.marks_read - 1) % m.marks.size()];
    if (cudaEventElapsedTime(&idle, prev.end, mk.begin) == cudaSuccess && idle > 0) {
      m.timeline.idle_ms += idle;
    }
  }
  return HostLogits{m.logits_host, m.argmax_host};
}

tensor::Backend::DeviceTimeline CudaBackend::device_timeline() const {
  return impl_->timeline;
}

std::optional<tensor::Backend::DeviceMemory> CudaBackend::device_memory() const {
  impl_->bind();
  DeviceMemory m;
  if (cudaMemGetInfo(&m.free, &m.total) != cudaSuccess) return std::nullopt;
  return m;
}

core::Status CudaBackend::synchronize() {
  impl_->check(cudaStreamSynchronize(impl_->stream), "sync");
  return take_error();
}

core::Status CudaBackend::take_error() {
  Status s = impl_->error;
  impl_->error = Status::ok();
  return s;
}

}  // namespace mlxs::backend::cuda
