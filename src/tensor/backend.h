#pragma once
// The Backend interface: the model's vocabulary of ops, coarse enough that a
// backend can fuse behind them (../shared/DESIGN.md §8). One instance serves one
// loaded model on one device; everything it needs per step is sized at load
// (plan_step), so a step allocates nothing.
//
// A step is described once by a StepBatch (plan) and then run op by op; ops
// that depend on positions, sequences or wanted logit rows read them from the
// batch given to begin_step, which lets a device backend upload the metadata
// once per step (FlashInfer's plan/run split).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "tensor/communicator.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"

namespace mlxs::tensor {

using core::Result;
using core::Status;

// y = x · Wᵀ + b for a weight [out, in].
struct Weight {
  Tensor w;         // [out_features, in_features] f32, f16 or bf16; packed rows when quantized
  Tensor bias;      // [out_features] f32, or empty
  QuantSpec quant;  // format none for plain weights
  std::int64_t out_features() const { return w.rows(); }
  std::int64_t in_features() const { return quant.quantized() ? quant.in_features : w.cols(); }
  bool quantized() const { return quant.quantized(); }
};

struct LinearOut {
  const Weight* weight = nullptr;
  Tensor out;  // [T, out_features] f32
};

// kQuickGelu is x * sigmoid(1.702 x) (CLIP and Qwen2-VL vision towers).
enum class Activation : std::uint8_t { kSilu, kGeluTanh, kGelu, kQuickGelu };

// A resolved rotary embedding: the model computes frequencies from the config
// (default, linear, llama3, yarn, ...), the backend only applies them.
// Rotation is rotate-half (pairs i and i + rot_dim/2), as Hugging Face does.
struct RopeSpec {
  std::vector<double> inv_freq;   // rot_dim / 2 entries
  int rot_dim = 0;                // leading dims of each head that rotate
  double attention_factor = 1.0;  // scales cos and sin (yarn / longrope)
  // Multi-axis rotary (Qwen2-VL's M-RoPE): per inv_freq entry, the axis of
  // StepBatch::rope_positions whose position turns it. Empty: one axis.
  std::vector<std::uint8_t> axis;
};

struct AttentionSpec {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  float softcap = 0.0f;  // 0: none; else scores = cap * tanh(scores / cap)
  int window = 0;        // 0: full causal; else keys with pos > query_pos - window
};

struct KvCacheShape {
  int layers = 0;
  int blocks = 0;
  int block_size = 16;
  int kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::kF32;
  // Dequantization scales of a quantized (e4m3) cache: the value stored is
  // x / scale and reads back as code * scale. [layers][2: K, V][kv_heads]
  // (this rank's kv heads under tensor parallelism); empty: 1 everywhere.
  // From the checkpoint's k_scale / v_scale; 16-bit and f32 caches ignore
  // them.
  std::vector<float> scales;
  float scale(int layer, int which, int kv_head) const {
    return scales.empty()
               ? 1.0f
               : scales[(static_cast<std::size_t>(layer) * 2 + static_cast<std::size_t>(which)) *
                            static_cast<std::size_t>(kv_heads) +
                        static_cast<std::size_t>(kv_head)];
  }
  std::size_t bytes() const {
    return static_cast<std::size_t>(layers) * blocks * block_size * kv_heads * head_dim * 2 *
           dtype_size(dtype);
  }
};

// Paged K/V storage of one model, owned by the backend's device.
class KvStorage {
 public:
  virtual ~KvStorage() = default;
  virtual const KvCacheShape& shape() const = 0;
};

// One sequence's share of a step: rows [token_begin, token_begin + token_count)
// of the step's tokens are its new tokens, at positions context_len -
// token_count ... context_len - 1; block_table maps position / block_size to a
// block of the KV storage and covers [0, context_len).
struct SeqSlice {
  std::int32_t token_begin = 0;
  std::int32_t token_count = 0;
  std::int32_t context_len = 0;
  const std::int32_t* block_table = nullptr;
  std::int32_t num_blocks = 0;
};

// Rows [row, row + rows) of a step's embeddings replaced by `data` (host
// memory, [rows, hidden] f32): an image's features in place of its
// placeholder tokens.
struct EmbedRows {
  std::int32_t row = 0;
  std::int32_t rows = 0;
  const float* data = nullptr;
};

// Positions of M-RoPE axes: the rotary position of row t on axis a is
// rope_positions[a * T + t].
inline constexpr int kRopeAxes = 3;

struct StepBatch {
  std::span<const std::int32_t> tokens;      // T token ids
  std::span<const std::int32_t> positions;   // T positions (KV slots)
  std::span<const SeqSlice> seqs;            // sequences, in token order
  std::span<const std::int32_t> logit_rows;  // rows of T whose logits are wanted
  // The cache the step reads and writes (set by Model::forward): a device
  // that replays captured steps keys them by it.
  const KvStorage* kv = nullptr;
  // Multimodal steps only (all empty otherwise):
  // kRopeAxes x T rotary positions for ropes with axes (Qwen2-VL), which
  // differ from `positions` once an image has been placed.
  std::span<const std::int32_t> rope_positions{};
  // Per row, the end (exclusive) of the positions it attends to when that
  // is past its own: Gemma-3's image tokens see their whole image. The keys
  // must be in the cache by the end of the step's writes.
  std::span<const std::int32_t> attend_until{};
  std::span<const EmbedRows> embeds{};  // read by the model, not the backend
};

struct MoeSpec {
  const Weight* router = nullptr;  // [experts, hidden]
  std::span<const Weight> gate;    // per expert [moe_ffn, hidden]
  std::span<const Weight> up;      // per expert [moe_ffn, hidden]
  std::span<const Weight> down;    // per expert [hidden, moe_ffn]
  int top_k = 1;
  bool norm_topk_prob = true;
  Activation activation = Activation::kSilu;
};

// Memory a backend allocated on its device; freed with the object.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() const = 0;
  virtual std::size_t size() const = 0;
};

struct StepCapacity {
  int max_tokens = 0;               // rows of a step
  int max_seqs = 0;                 // sequences in a step
  int max_context = 0;              // longest context attended
  int max_logit_rows = 0;           // rows whose logits a step may want
  std::int64_t max_linear_in = 0;   // widest input of any linear
  std::int64_t max_linear_out = 0;  // widest output of any linear
  // Widest group of linears bound as one stacked weight (Binder::stacked),
  // 0 when none: a backend fusing them needs this many columns a row.
  std::int64_t max_stacked_out = 0;
  int max_heads = 0;  // query heads
  int max_head_dim = 0;
  int moe_experts = 0;  // 0 when the model has no MoE
  int moe_top_k = 0;
  std::int64_t moe_ffn = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  // One line for logs and benchmarks: "cpu (2 threads, AVX3)".
  virtual std::string describe() const = 0;

  // ---- load time -----------------------------------------------------------
  // Whether linear() reads weights of this dtype as they are (zero-copy).
  virtual bool computes_with(DType dtype) const = 0;
  virtual Result<std::unique_ptr<DeviceBuffer>> allocate(std::size_t bytes) = 0;
  // Makes a quantized host weight usable by linear() and embed(): packed
  // codes read in place where the backend multiplies by them, else
  // dequantized once to a dtype it computes with.
  virtual Result<Weight> import_quantized(const Weight& host) = 0;
  // Makes a host tensor usable by ops: the same view on the CPU when the dtype
  // is one it computes with, else a converted or uploaded copy kept alive by
  // the backend until it is destroyed. widen_to_f32 asks for an f32 copy
  // (norm weights and biases, which ops read as f32).
  virtual Result<Tensor> import_tensor(const Tensor& host, bool widen_to_f32) = 0;
  // Whether linear() runs outputs that are adjacent row ranges of one weight
  // (Binder::stacked: a layer's q/k/v) as one product. Such a backend must
  // copy what it imports (the binder's stacked host copy is transient).
  virtual bool fuses_adjacent_linears() const { return false; }
  // Sizes per-step scratch (attention scores, converted activations, ...).
  virtual Status plan_step(const StepCapacity& capacity) = 0;
  virtual int register_rope(const RopeSpec& spec) = 0;
  virtual Result<std::unique_ptr<KvStorage>> create_kv_storage(const KvCacheShape& shape) = 0;
  // The element type of the KV caches a model asks this backend for
  // (Model::kv_shape): what its attention reads best. The pool's size in
  // tokens follows from it.
  virtual DType kv_dtype() const { return DType::kF32; }

  // ---- per step (no allocation) --------------------------------------------
  virtual void begin_step(const StepBatch& batch) = 0;
  // The step's ops have all been issued (a device backend may launch a
  // captured graph or flush here).
  virtual void end_step() = 0;
  // out[t] = table[tokens[t] - first_token] * scale (rows of a quantized
  // table dequantized). The table holds tokens [first_token, first_token +
  // rows): under tensor parallelism a rank's slice of the vocabulary, and a
  // token outside it gives a row of zeros.
  virtual void embed(const Weight& table, float scale, Tensor out, std::int64_t first_token) = 0;
  // out = x / rms(x) * (offset + w); offset is 1 for Gemma's (1 + w) norm.
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, float offset, Tensor out) = 0;
  // x += delta; out = rms_norm(x).
  virtual void add_rms_norm(Tensor x, const Tensor& delta, const Tensor& w, float eps, float offset,
                            Tensor out) = 0;
  // Tensor parallelism's row-parallel output meeting the residual stream: x
  // += the sum over comm's ranks of t (each rank's partial product of
  // o_proj or down_proj), then out = rms_norm(x). A collective; t may be
  // left holding anything. The default is comm's all-reduce, then
  // add_rms_norm; a device backend may do both in one kernel.
  virtual Status all_reduce_add_rms_norm(Communicator& comm, Tensor t, Tensor x, const Tensor& w,
                                         float eps, float offset, Tensor out) {
    MLXS_RETURN_IF_ERROR(comm.all_reduce_sum(t));
    add_rms_norm(x, t, w, eps, offset, out);
    return Status::ok();
  }
  // In place, per head of head_dim (q/k norms).
  virtual void head_rms_norm(Tensor x, int head_dim, const Tensor& w, float eps, float offset) = 0;
  // Several outputs of one input in one pass (q/k/v, gate/up).
  virtual void linear(const Tensor& x, std::span<const LinearOut> outs) = 0;
  // In place on [T, heads * head_dim] with the step's positions.
  virtual void rope(Tensor x, int head_dim, int rope_id) = 0;
  virtual void kv_write(KvStorage& kv, int layer, const Tensor& k, const Tensor& v) = 0;
  // rope(q); rope(k); kv_write(k, v) — one pass on backends that fuse it.
  virtual void rope_and_cache(Tensor q, Tensor k, const Tensor& v, int head_dim, int rope_id,
                              KvStorage& kv, int layer) = 0;
  // Causal attention of the step's queries over each sequence's cached keys.
  virtual void attention(const KvStorage& kv, int layer, const Tensor& q, const AttentionSpec& spec,
                         Tensor out) = 0;
  // rope_and_cache, then attention; q and k are left in any state. A device
  // backend may rotate and append the step's keys inside attention.
  virtual void rope_cache_attention(Tensor q, Tensor k, const Tensor& v, int head_dim, int rope_id,
                                    KvStorage& kv, int layer, const AttentionSpec& spec,
                                    Tensor out) {
    rope_and_cache(q, k, v, head_dim, rope_id, kv, layer);
    attention(kv, layer, q, spec, out);
  }
  // out = act(gate) * up.
  virtual void gated_activation(const Tensor& gate, const Tensor& up, Activation act,
                                Tensor out) = 0;
  // down.out = linear(act(gate) * up, down.weight); `gate` may be overwritten.
  // Backends may compute the activation inside the linear's input loads.
  virtual void gated_linear(Tensor gate, const Tensor& up, Activation act,
                            const LinearOut& down) = 0;
  // A gated MLP: down.out = linear(act(x·gateᵀ) * (x·upᵀ), down.weight).
  // gate_out and up_out are scratch for the two projections, left in any
  // state. By default the projections are one linear and the rest
  // gated_linear; a backend may fuse the activation into the projections.
  virtual void gated_mlp(const Tensor& x, const Weight& gate, const Weight& up, Activation act,
                         Tensor gate_out, Tensor up_out, const LinearOut& down) {
    const LinearOut projections[2] = {{&gate, gate_out}, {&up, up_out}};
    linear(x, projections);
    gated_linear(gate_out, up_out, act, down);
  }
  virtual void moe(const Tensor& x, const MoeSpec& spec, Tensor out) = 0;
  virtual void add(Tensor x, const Tensor& y) = 0;
  // out[i] = x[logit_rows[i]].
  virtual void gather_logit_rows(const Tensor& x, Tensor out) = 0;
  // x = cap * tanh(x / cap).
  virtual void softcap(Tensor x, float cap) = 0;

  virtual Status copy_to_host(const Tensor& src, void* dst) = 0;
  // dst = host bytes (dst.nbytes() of them), in stream order.
  virtual Status upload(const void* src, Tensor dst) = 0;
  // The ops of vision encoders, or null where the backend has none yet
  // (loading a vision model there is then a ModelLoadError).
  virtual class EncoderOps* encoder() { return nullptr; }
  // What a step's sampling needs of its logits, row by row, so that a device
  // sends back token ids where they are enough instead of whole rows.
  struct RowDraw {
    std::int32_t row = 0;
    float temperature = 1.0f;  // > 0
    std::int32_t top_k = 0;    // 0: off
    float top_p = 1.0f;        // 1: off
    float min_p = 0.0f;        // 0: off
    double uniform = 0.0;      // in [0, 1)
  };
  struct LogitsRequest {
    // Allowed-token bitmasks (structured output): row masked_rows[i] keeps
    // only the tokens whose bit is set in words [i * mask_words, (i+1) *
    // mask_words) of `masks` (bit t of word t / 32); the others become
    // -infinity before anything below reads the row.
    std::span<const std::int32_t> masked_rows;
    std::span<const std::uint32_t> masks;
    std::size_t mask_words = 0;
    // Per logit row: nonzero when the host samples it and needs the whole
    // row; zero when its argmax (first index of the maximum) is enough.
    std::span<const std::uint8_t> full_rows;
    // Rows the device samples itself (samples_on_device() backends only;
    // their full_rows entry is zero): engine/sampling_cutoff.h's filters
    // and draw, fed the sequence generator's next uniform number.
    std::span<const RowDraw> draws;
  };
  struct HostLogits {
    float* rows = nullptr;  // row r at rows + r * vocab, valid where full_rows[r]
    // Where !full_rows[r]: the row's token (its argmax, or the device's draw).
    const std::int32_t* tokens = nullptr;
  };
  // Free and total bytes of the device's memory; nullopt on the host (the
  // KV cache is then sized by configuration alone).
  struct DeviceMemory {
    std::size_t free = 0, total = 0;
  };
  virtual std::optional<DeviceMemory> device_memory() const { return std::nullopt; }
  // Where a device's time went over the steps whose logits were collected:
  // busy from a step's first queued work to its logits, idle from one
  // step's logits to the next step's first work (waiting for the host).
  // Running totals; all zero where the backend does not measure them.
  struct DeviceTimeline {
    double busy_ms = 0, idle_ms = 0;
    std::uint64_t steps = 0;
  };
  virtual DeviceTimeline device_timeline() const { return {}; }
  // Whether launch_logits takes `draws` (temperature sampling where the
  // logits are).
  virtual bool samples_on_device() const { return false; }
  // Whether a step's token may be a placeholder for a token the device has
  // not handed back yet: token -1 - r stands for the id that row r of the
  // last launch_logits produced, read where it lies. The engine then
  // schedules and launches step n + 1 before it has read step n's ids, so
  // the device never waits for the host (the engine's overlap mode). The
  // ids stay the backend's, so one engine at a time may leave a step pending.
  virtual bool resolves_placeholder_tokens() const { return false; }
  // Under tensor parallelism only rank 0 samples: in the overlap mode every
  // rank's placeholder tokens must resolve to rank 0's ids. Called by each
  // rank at the start of a step that holds placeholders (after begin_step,
  // so a device queues it with the step), a collective on `comm` that hands
  // rank 0's ids of the last launch_logits, at least rows [0, rows), to the
  // others. shares_sampled_ids says whether the backend can.
  virtual bool shares_sampled_ids() const { return false; }
  virtual Status share_sampled_ids(Communicator& /*comm*/, int /*rows*/) {
    return Status(core::ErrorCode::kUnsupported, "this backend does not share sampled ids");
  }
  // Issued after the step's forward (at most StepCapacity::max_logit_rows
  // rows): a device masks and reduces the rows where they are and queues the
  // copies of what comes back (whole rows only where asked for) without
  // waiting; the CPU does the work at once on the tensor itself. The request
  // is read during the call only.
  virtual Status launch_logits(const Tensor& logits, const LogitsRequest& request) = 0;
  // Waits for the last launch_logits (not for later work queued on the
  // device). The returned memory is the backend's until the next
  // launch_logits and the caller's to modify (samplers mask in place).
  virtual core::Result<HostLogits> collect_logits() = 0;
  // Both at once.
  core::Result<HostLogits> finish_logits(const Tensor& logits, const LogitsRequest& request) {
    MLXS_RETURN_IF_ERROR(launch_logits(logits, request));
    return collect_logits();
  }
  virtual Status synchronize() = 0;
};

}  // namespace mlxs::tensor
