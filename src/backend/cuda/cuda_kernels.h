#pragma once
// Launchers of the CUDA kernels, in plain C++17 with raw pointers so that the
// .cu files (compiled by nvcc as C++17) and the C++20 backend class meet on
// a small interface. Every launcher enqueues on `stream` and returns the
// launch error (cudaSuccess when queued).

#include <cstdint>

#include <cuda_runtime.h>

namespace mlxs::backend::cuda::k {

// Element types of weights (f32, f16, bf16) and of the KV cache (f32, bf16,
// or e4m3: the FP8 cache of issue 11).
enum class WType : int { kF32 = 0, kF16 = 1, kBF16 = 2, kFP8E4M3 = 3 };
enum class Act : int { kSilu = 0, kGeluTanh = 1, kGelu = 2, kQuickGelu = 3 };

// Per-step metadata on the device (see CudaBackend::begin_step).
struct StepMeta {
  const std::int32_t* tokens;      // [T]
  const std::int32_t* positions;   // [T]
  const std::int32_t* row_seq;     // [T] sequence of each row
  const std::int32_t* seq_table;   // [S] offset of each sequence's block table in `tables`
  const std::int32_t* tables;      // concatenated block tables
  const std::int32_t* logit_rows;  // [R]
  // A negative token -1 - r is a placeholder for prev_ids[r], the id that
  // row r of the previous step's logits produced (the engine's overlap mode).
  const std::int32_t* prev_ids;
  // Multimodal steps (null otherwise). M-RoPE positions, kRopeAxes x T
  // (axis a of row t at a * T + t, T the launch's rows); set for every step
  // of a model with a multi-axis rope (its positions repeated on each axis
  // when the step has none), so graphs of its decode steps stay valid.
  const std::int32_t* rope_positions;
  // [T] the end (exclusive) of the keys row t attends to, past its own
  // position for a bidirectional span (Gemma 3's image tokens).
  const std::int32_t* attend_until;
};

#ifdef __CUDACC__
// Row t's token id, a placeholder resolved from the previous step's ids.
__device__ inline std::int32_t step_token(const StepMeta& m, int t) {
  const std::int32_t token = m.tokens[t];
  return token >= 0 ? token : m.prev_ids[-1 - token];
}
#endif

// The vocabulary rows an embedding table holds: tokens [first, first +
// count). Under tensor parallelism each rank holds a slice; a token outside
// it embeds as zeros and the all-reduce that follows adds the row of the
// rank that holds it.
struct VocabRows {
  std::int64_t first;
  std::int64_t count;
};

#ifdef __CUDACC__
// Row t's row of the table, or -1 where another rank holds it.
__device__ inline std::int64_t table_row(const StepMeta& m, int t, const VocabRows& v) {
  const std::int64_t local = static_cast<std::int64_t>(step_token(m, t)) - v.first;
  return local >= 0 && local < v.count ? local : -1;
}
#endif

// The paged cache: elements of `type` (kF32 for exact parity runs, kBF16 for
// serving: half the bytes per token, so twice the tokens fit and decode reads
// half as much); kernels convert on load and store and keep f32 math.
struct KvLayout {
  void* base;                 // the whole cache
  WType type;                 // kF32, kBF16 or kFP8E4M3 (e4m3 codes of x / scale)
  std::int64_t layer_stride;  // elements per layer (K and V)
  std::int64_t kv_stride;     // elements from K to V of a layer
  std::int64_t block_stride;  // elements per block (all kv heads)
  int block_size;
  // log2(block_size) where it is a power of two (the engine's 16), else -1:
  // a key's block and slot are then a shift and a mask instead of an integer
  // division by a runtime value, which took tens of instructions per copied
  // chunk in the attention kernels' tile loads (kv_block_of, kv_slot_of).
  int block_shift;
  int kv_heads;
  int head_dim;
  // An e4m3 cache's dequantization scales, [layer][2: K, V][kv_heads] on the
  // device (kv_scale); null: 1 everywhere (and for 16-bit and f32 caches).
  const float* scales;
  // e4m3 caches of 128-wide heads in blocks of a multiple of 16 keys: a
  // TMA descriptor over the cache as rows of 128 bytes (kv_rows_map.h), in
  // device memory; null: none (the kernels copy with cp.async).
  const void* rows_map;
};

cudaError_t embed(WType t, const void* table, std::int64_t hidden, VocabRows rows,
                  const StepMeta& m, int T, float scale, float* out, cudaStream_t s);
cudaError_t rms_norm(const float* x, const float* w, float eps, float offset, float* out,
                     std::int64_t rows, int n, cudaStream_t s);
// `early`: launched before the previous kernel ends (programmatic dependent
// launch), for decode steps where launch gaps are a large share of the step.
cudaError_t add_rms_norm(float* x, const float* delta, const float* w, float eps, float offset,
                         float* out, std::int64_t rows, int n, cudaStream_t s, bool early = false);
// `axis` (device, rot_dim / 2 entries, or null for one axis): the M-RoPE
// axis of m.rope_positions that turns each frequency.
cudaError_t rope(float* x, int T, int heads, int head_dim, int rot_dim, const double* inv_freq,
                 const std::int32_t* axis, double attention_factor, const StepMeta& m,
                 cudaStream_t s);
cudaError_t kv_write(const KvLayout& kv, int layer, const float* k, const float* v, int T,
                     const StepMeta& m, cudaStream_t s);
// Rotates q and k and appends k and v to the cache, in one launch;
// `per_head`: a block per (row, head), launched early (decode-sized steps),
// else a block per row with one sincos per frequency.
cudaError_t rope_and_cache(float* q, float* k, const float* v, int T, int heads, int head_dim,
                           int rot_dim, const double* inv_freq, const std::int32_t* axis,
                           double attention_factor, const KvLayout& kv, int layer,
                           const StepMeta& m, cudaStream_t s, bool per_head = false);
// Keys are split into `splits` ranges of `split_len` (flash-decoding); the
// partial softmaxes ([T, heads, splits, head_dim + 2] floats) are merged.
// `skip_multi`: rows of sequences with two or more rows in the step are left
// alone (attention_prefill writes them).
cudaError_t attention(const KvLayout& kv, int layer, const float* q, float* out, int T, int heads,
                      int head_dim, float scale, float softcap, int window, int splits,
                      int split_len, const StepMeta& m, float* partial, cudaStream_t s,
                      bool skip_multi = false);
std::size_t attention_smem_bytes(int head_dim);
// Decode-sized steps (kernels_attention_decode.cu): the same contract for
// head_dim 16, 32, 64 or 128 and GQA groups of up to 8, the splits merged in the
// launch by the last block of each (row, KV head) to finish. `tickets`: one
// zeroed counter per (row, KV head), left zeroed.
bool attention_decode_supported(int heads, int head_dim, const KvLayout& kv);
cudaError_t attention_decode(const KvLayout& kv, int layer, const float* q, float* out, int T,
                             int heads, int head_dim, float scale, float softcap, int window,
                             int splits, int split_len, const StepMeta& m, float* partial,
                             unsigned* tickets, cudaStream_t s, bool skip_multi = false);
// The same contract on the tensor cores (kernels_attention_decode_tc.cu):
// bf16 and e4m3 caches, head_dim 16-256, GQA groups of up to 16; Q and P
// rounded to the MMA's 16-bit type (bf16, f16 for e4m3), f32 softmax and
// accumulation. Every decode step by default (kDecodeTcMinRows).
bool attention_decode_tc_supported(int heads, int head_dim, const KvLayout& kv);
// Which rows of an e4m3 stage a tensor-core kernel widens to an f16 tile in
// shared memory: all, only V's (K's fragments converted from the codes), or
// none (V's too; heads of 128 and more, else as kValues). Decode takes
// kNone unless set_fp8_decode_widen (the backend, from MLXS_CUDA_FP8_WIDEN
// for A/B runs) says otherwise; prefill widens all. `lean`: kNone at
// 128-wide heads runs at four blocks per SM, Q re-read from shared memory
// (false: the earlier three-block kernel; MLXS_CUDA_FP8_LEAN=0, A/B runs).
// `key_rows`: kNone at heads of 128 and more and GQA groups of up to 8 runs
// its MMAs transposed, keys as M and heads as N (false: untransposed;
// MLXS_CUDA_FP8_KEY_ROWS=0, A/B runs).
enum class KvWiden : std::uint8_t { kAll, kValues, kNone };
// `tma`: the transposed kernel at 128-wide heads copies its code rows with
// tensor copies where the cache has a rows map and no sliding window
// (false: cp.async chunks; MLXS_CUDA_FP8_TMA=0, A/B runs).
void set_fp8_decode_widen(KvWiden w, bool lean = true, bool key_rows = true, bool tma = true);
cudaError_t attention_decode_tc(const KvLayout& kv, int layer, const float* q, float* out, int T,
                                int heads, int head_dim, float scale, float softcap, int window,
                                int splits, int split_len, const StepMeta& m, float* partial,
                                unsigned* tickets, cudaStream_t s, bool skip_multi = false);
// The same kernel doing the step's RoPE and cache append instead of
// rope_and_cache (pure decode steps, one rope axis; attention_decode_tc_folds):
// q, fold.k and fold.v arrive unrotated.
struct RopeFold {
  const float* k;  // [T, kv_heads * head_dim]
  const float* v;  // likewise
  const double* inv_freq;
  int rot_dim;
  double attention_factor;
};
cudaError_t attention_decode_tc_folded(const KvLayout& kv, int layer, const float* q, float* out,
                                       int T, int heads, int head_dim, float scale, float softcap,
                                       int window, int splits, int split_len, const StepMeta& m,
                                       float* partial, unsigned* tickets, const RopeFold& fold,
                                       cudaStream_t s);
// Whether a rotation of rot_dim dimensions folds into attention_decode_tc
// (rotated pairs in whole float4s: rot_dim a multiple of 8, at most head_dim).
bool attention_decode_tc_folds(int heads, int head_dim, int rot_dim, const KvLayout& kv);
// Prefill-sized work (kernels_attention_prefill.cu): the rows of every
// sequence that brings two or more rows to the step, on the tensor cores
// (16-bit Q·Kᵀ and P·V, f32 softmax and accumulation), a block per tile of
// query rows x the GQA group of one KV head. Rows of one-row sequences are
// left to the decode kernels (skip_multi). bf16 and e4m3 caches, head_dim
// 16, 32, 64, 128 or 256.
bool attention_prefill_supported(int heads, int head_dim, const KvLayout& kv);
// The prefill kernel's keys a tile for heads up to 128 wide, for A/B runs
// (process-wide): 32 (the default) or 64.
void set_prefill_key_tile(int keys);
cudaError_t attention_prefill(const KvLayout& kv, int layer, const float* q, float* out, int T,
                              int heads, int head_dim, float scale, float softcap, int window,
                              const StepMeta& m, cudaStream_t s);
cudaError_t gated_act(Act a, const float* gate, const float* up, float* out, std::int64_t n,
                      cudaStream_t s, bool early = false);
// act(gate) * up written as bf16 or f16 (t) for the next GEMM's input: one
// pass instead of the f32 product and its conversion. n a multiple of 4.
cudaError_t gated_act_half(Act a, const float* gate, const float* up, WType t, void* out,
                           std::int64_t n, cudaStream_t s);
cudaError_t add(float* x, const float* y, std::int64_t n, cudaStream_t s);
cudaError_t add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t cols,
                     cudaStream_t s);
cudaError_t softcap(float* x, float cap, std::int64_t n, cudaStream_t s);
// A stacked product's columns back into its parts: row r of src [rows,
// sum of the parts' cols] goes to each part's dst [rows, cols] in turn.
// Every cols a multiple of 4, the pointers 16-byte aligned.
struct ColumnPart {
  float* dst;
  int cols;
};
inline constexpr int kMaxColumnParts = 4;
struct ColumnParts {
  ColumnPart part[kMaxColumnParts];
  int count;
};
cudaError_t split_columns(const float* src, std::int64_t rows, const ColumnParts& parts,
                          cudaStream_t s);
cudaError_t gather_rows(const float* x, const std::int32_t* rows, int count, std::int64_t cols,
                        float* out, cudaStream_t s);
// out[rows[i]] += weight[i] * x[i]
cudaError_t scatter_add_rows(const float* x, const std::int32_t* rows, const float* weight,
                             int count, std::int64_t cols, float* out, cudaStream_t s);
cudaError_t to_half(WType t, const float* x, void* out, std::int64_t n, cudaStream_t s);
// A MoE layer of up to a chunk of rows without the host (kernels_moe.cu):
// routes the router's logits, groups the (token, choice) pairs by expert in
// tiles of `bm` (1, 2, 4, 8; bf16 also 32; e4m3 8 or 32), runs the experts'
// gate/up and down GEMVs and sums each token's products. Weights f32, f16,
// bf16 or e4m3, [F, H] (gate, up) and [H, F] (down), H and F multiples of 8
// (16 for e4m3).
inline constexpr int kMoeMaxExperts = 512;
// Tiles of this many pairs of bf16 (and every e4m3) experts run on the tensor cores (x split
// into two bf16 halves: f32-like products); the other tile sizes, and f16
// or f32 experts, on the CUDA cores.
inline constexpr int kMoeMmaTile = 8;
// ... and tiles of this many pairs (bf16 and e4m3), each weight fragment
// serving four times the pairs, when experts get dozens (prefill).
inline constexpr int kMoeMmaWideTile = 32;
struct MoeDeviceArgs {
  const float* logits;  // [T, E]
  const float* x;       // [T, H]
  int T, E, topk;
  bool norm;  // renormalise the top k weights to sum to 1
  int bm;
  int H, F;
  WType wtype;
  const void* const* gate;  // E pointers each
  const void* const* up;
  const void* const* down;
  // e4m3 experts (wtype kFP8E4M3, tiles of kMoeMmaTile or kMoeMmaWideTile):
  // E pointers each to f32 scales per block of block_rows x group columns
  // (gate_group for gate and up, down_group for down; a group a multiple of
  // 64 or the whole row, block_rows 1 or a multiple of 16).
  const float* const* gate_scale;
  const float* const* up_scale;
  const float* const* down_scale;
  int block_rows;
  int gate_group;
  int down_group;
  // Tensor-core tiles of kMoeMmaTile: a block's warps split K (1), or each
  // takes its own rows (0); -1 chooses by whether the tiles fill the GPU's
  // `sms` multiprocessors.
  int ksplit;
  int sms;
  Act act;
  // Scratch: T·topk choices, weights and the order; moe_max_tiles tiles; one
  // tile count; products h [T·topk, F] and y [T·topk, H].
  std::int32_t* choice;
  float* weight;
  std::int32_t* order;
  int4* tiles;
  int* n_tiles;
  float* h;
  float* y;
  float* out;  // [T, H]
};
int moe_max_tiles(int pairs, int experts, int bm);
cudaError_t moe_device(const MoeDeviceArgs& a, cudaStream_t s);
cudaError_t widen(WType t, const void* x, float* out, std::int64_t n, cudaStream_t s);
cudaError_t fill(float* x, float v, std::int64_t n, cudaStream_t s);

// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) for M <= kGemvMaxRows; f32 math.
// Several weights of one dtype sharing the input x run as one launch.
inline constexpr int kGemvMaxRows = 8;
inline constexpr int kGemvMaxSegments = 4;
struct GemvSegment {
  const void* w;      // [n, K]
  const float* bias;  // [n] or null
  float* y;           // [M, n]
  int n;
};
cudaError_t gemv(WType t, const float* x, int M, int K, const GemvSegment* segments, int count,
                 cudaStream_t s);

// MLX affine weights as stored: row r holds K codes of `bits` bits packed
// little-endian in 32-bit words; scales and biases [n, K / group] of
// `param_type`. Weight = scale · code + bias.
struct AffineWeight {
  const void* packed;
  const void* scales;
  const void* biases;
  WType param_type;
  int bits;
  int group;
  int n;  // rows
};
// What qgemv takes: 4 or 8 bits, groups of 32, 64 or 128 dividing K.
bool qgemv_supports(int bits, int group, std::int64_t K);
// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) for M <= kGemvMaxRows and up
// to kQgemvMaxSegments weights of the same bits and parameter dtype sharing x (16-byte
// aligned), in one launch. Exact codes; 4 bits multiply x rounded to f16
// (eight products summed in f16, then f32), 8 bits are f32 math.
inline constexpr int kQgemvMaxSegments = 4;
struct QSegment {
  AffineWeight w;
  const float* bias;  // [w.n] or null
  float* y;           // [M, w.n]
};
cudaError_t qgemv(const float* x, int M, int K, const QSegment* segments, int count,
                  cudaStream_t s);
// The path of qgemv on the tensor cores for 1-4 rows of 4- or 8-bit codes
// (kernels_quant_mma.cu): groups of 64 or 128, K a multiple of 512, every
// segment of one bit width, group size and parameter dtype; false under
// MLXS_Q4_MMA=0. Codes exact, x rounded to f16, products summed in f32.
bool qgemv_mma_supports(int bits, int M, std::int64_t K, int group);
cudaError_t qgemv_mma(const float* x, int M, int K, const QSegment* segments, int count,
                      cudaStream_t s);
// The path of qgemv for 1-4 rows of 8-bit codes (kernels_quant8.cu): the
// FP8 GEMV's layout, groups of 64 or 128, K a multiple of 256, x staged as
// f16 (with its f32 sums per 64 columns) in at most 96 KiB, the weight's
// codes and parameters aligned for its loads; false under MLXS_Q8_GEMV=0.
// Codes exact, x rounded to f16, products summed in f32. qgemv8 takes
// segments that all pass it, of one group size and parameter dtype.
bool qgemv8_takes(int M, std::int64_t K, const AffineWeight& w);
cudaError_t qgemv8(const float* x, int M, int K, const QSegment* segments, int count,
                   cudaStream_t s);
// 4-bit codes at up to this many rows stay on qgemv even where qgemm would
// take them: its 4-bit path beats qgemm there (one H200, the 8B token's
// linears at 2 rows: 2.47 ms against 3.29).
inline constexpr int kQgemv4PreferredRows = 2;
// Whether M rows of w belong on qgemv even where qgemm could take them:
// 4-bit codes up to kQgemv4PreferredRows, and the rows its tensor-core
// paths take (qgemv_mma, qgemv8). The backend's routing asks this, so a new
// qgemv path needs no rule of its own there.
bool qgemv_preferred(int M, std::int64_t K, const AffineWeight& w);
// Rows [row0, row0 + rows) of w (4 or 8 bits) as bf16, row-major.
// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) for 1 <= M <= kQgemmMaxRows on
// the tensor cores, x in bf16 ([M, K]); the packed weight is read once and
// dequantized to bf16 tiles in shared memory (the products of
// dequantize_rows + GEMM). `partial` (partial_floats) holds split-K sums.
inline constexpr int kQgemmMaxRows = 64;
bool qgemm_supports(int bits, int group, std::int64_t K);
cudaError_t qgemm(const void* x_bf16, int M, int K, const AffineWeight& w, const float* bias,
                  float* y, float* partial, std::size_t partial_floats, cudaStream_t s);
cudaError_t dequantize_rows(const AffineWeight& w, int K, int row0, int rows, void* out_bf16,
                            cudaStream_t s);
// out[t] = w[tokens[t]] · scale for the step's T tokens.
cudaError_t embed_affine(const AffineWeight& w, int K, VocabRows rows, const StepMeta& m, int T,
                         float scale, float* out, cudaStream_t s);

// Row rows[i] of logits [*, vocab] keeps only the tokens whose bit is set in
// masks[i * words ...] (bit t of word t / 32); the others become -inf.
cudaError_t apply_masks(float* logits, std::int64_t vocab, const std::int32_t* rows,
                        const std::uint32_t* masks, std::int64_t words, int count, cudaStream_t s);
// A row the device samples (engine/sampling_cutoff.h's definitions): its
// logits are scaled in place, `weights` holds one row of scratch per draw.
struct RowDraw {
  std::int32_t row;
  float temperature;   // > 0
  std::int32_t top_k;  // 0: off
  float top_p;         // 1: off
  float min_p;         // 0: off
  double uniform;      // in [0, 1)
};
cudaError_t sample_rows(float* logits, std::int64_t vocab, const RowDraw* draws, int count,
                        float* weights, std::int32_t* out, cudaStream_t s);
// out[r] = the first index of the largest logit of row r (tensor/logits.h's
// first_argmax).
cudaError_t row_argmax(const float* logits, std::int64_t vocab, int rows, std::int32_t* out,
                       cudaStream_t s);

// ---- all-reduce between the GPUs of one process (peer_exchange.h) -----------

constexpr int kPeerMaxRanks = 8;
// A call moves at most this many rows (one block each, all resident at once:
// the blocks of two GPUs wait for each other) ...
constexpr int kPeerMaxRows = 128;
// ... of at most this many floats in all (1 MiB a rank): decode-sized
// partial sums. Larger ones are NCCL's.
constexpr std::int64_t kPeerSlotFloats = std::int64_t{1} << 18;
constexpr int kPeerMaxCols = 16384;

// What one rank's kernel reaches: every rank's inbox and flags (device
// pointers valid on this GPU through peer access), its own per-row call
// counters and the host-mapped word abort() raises.
struct PeerLinks {
  // Rank q's inbox: [phase 2][source rank][kPeerSlotFloats] floats.
  float* inbox[kPeerMaxRanks];
  // Rank q's flags: [source rank][kPeerMaxRows], the last call each source's
  // rows of that index arrived for.
  unsigned* flags[kPeerMaxRanks];
  unsigned* counters;  // [kPeerMaxRows]: calls made so far per row index
  const volatile int* abort;
  int rank, world;
};

// t = the sum over the ranks of t ([rows, n] f32, in place), every rank the
// same bits (the parts added in rank order). With x: instead x += that sum
// and out = rms_norm(x) · (w + offset), t left as it was (the row-parallel
// output meeting the residual stream, Backend::all_reduce_add_rms_norm).
// Every rank launches the same calls in the same order; rows <=
// kPeerMaxRows, n % 4 == 0, n <= kPeerMaxCols, rows * n <= kPeerSlotFloats,
// 16-byte aligned pointers (PeerExchange::fits).
cudaError_t peer_all_reduce(const PeerLinks& links, float* t, float* x, const float* w, float eps,
                            float offset, float* out, int rows, int n, cudaStream_t s, bool early);

}  // namespace mlxs::backend::cuda::k
