#pragma once
// The CUDA implementation of tensor::Backend: weights uploaded once at load
// (f32/f16/bf16 kept as stored), f32 activations, a paged bf16 KV cache (f32
// with exact_f32), our
// own kernels for everything but large matrix products (cuBLASLt), one stream
// per backend. Decode-sized linears (up to 8 rows) use our GEMV, which keeps
// f32 math on bf16 weights; larger ones convert the activations to the
// weight's 16-bit type for tensor-core GEMMs (the documented bf16 bound).

#include <functional>
#include <memory>
#include <vector>

#include "tensor/backend.h"

struct CUstream_st;  // cudaStream_t, without the CUDA headers

namespace mlxs::backend::cuda {

class PeerExchange;

struct CudaOptions {
  int device = 0;
  // Linears of more rows than this go to cuBLASLt tensor-core GEMMs on 16-bit
  // activations; up to it (and always with exact_f32) to our f32 GEMV. One
  // row is where the GEMV reads at the memory's speed; from two rows on the
  // tensor cores win (measured on H200: 8 rows reach 40% of the bound in
  // the GEMV).
  int gemv_max_rows = 1;
  // When set, f32 weights also use tensor cores (TF32) for large GEMMs.
  bool allow_tf32 = false;
  // Every linear in f32 math (the GEMV, 8 rows at a time), never converting
  // activations to 16 bits: bit-for-bit closer to the references, slower
  // prefill. Parity tests use it.
  bool exact_f32 = false;
  // Pure decode steps (one token per sequence) are captured as CUDA graphs,
  // one per batch size, and replayed: no launch overhead, no host work.
  bool graphs = true;
  int max_graph_batch = 256;
  // Packed 4/8-bit weights times this many rows or more (up to
  // k::kQgemmMaxRows) go to the tensor-core kernel that dequantizes tiles in
  // shared memory; fewer rows to the quantized GEMV, more to bf16 tiles of
  // the weight + cuBLASLt. MLXS_QGEMM_MIN_ROWS overrides it (benchmarks).
  int qgemm_min_rows = 2;
  // The KV cache's element type (kv_dtype()). bf16: half the bytes of f32,
  // so the pool holds twice the tokens and decode attention reads half as
  // much; prefill and decode attention run on the tensor cores. kF8E4M3:
  // issue 11's FP8 cache (codes of x / scale with the checkpoint's per-head
  // scales, else 1; see kv_access.cuh), a quarter of f32's bytes, read by the
  // tensor cores as exact f16 (kv_tile.cuh). kF32:
  // the per-row kernels' f32 cache. exact_f32 keeps f32 whatever this says
  // (the 1e-3 parity runs). The runtime sets it from kv_cache_dtype
  // (runtime::cuda_options_for); MLXS_CUDA_KV_F32=1 / MLXS_CUDA_KV_FP8=1
  // override it (A/B runs; FP8 wins when both are set).
  tensor::DType kv_dtype = tensor::DType::kBF16;
};

class CudaBackend final : public tensor::Backend {
 public:
  static core::Result<std::unique_ptr<CudaBackend>> create(const CudaOptions& options = {});
  ~CudaBackend() override;

  tensor::Device device() const override { return tensor::Device::kCuda; }
  std::string describe() const override;

  bool computes_with(tensor::DType dtype) const override;
  // q/k/v bound as one weight (Binder::stacked) run as one GEMM past the
  // GEMV's rows: a GQA model's narrow k and v GEMMs alone used a quarter of
  // the SMs (H200, Llama-8B at 512 rows: 20-22 us each, as long as o's).
  bool fuses_adjacent_linears() const override { return true; }
  core::Result<std::unique_ptr<tensor::DeviceBuffer>> allocate(std::size_t bytes) override;
  core::Result<tensor::Weight> import_quantized(const tensor::Weight& host) override;
  core::Result<tensor::Tensor> import_tensor(const tensor::Tensor& host,
                                             bool widen_to_f32) override;
  core::Status plan_step(const tensor::StepCapacity& capacity) override;
  int register_rope(const tensor::RopeSpec& spec) override;
  core::Result<std::unique_ptr<tensor::KvStorage>> create_kv_storage(
      const tensor::KvCacheShape& shape) override;
  tensor::DType kv_dtype() const override;

  void begin_step(const tensor::StepBatch& batch) override;
  void end_step() override;
  void embed(const tensor::Weight& table, float scale, tensor::Tensor out,
             std::int64_t first_token) override;
  void rms_norm(const tensor::Tensor& x, const tensor::Tensor& w, float eps, float offset,
                tensor::Tensor out) override;
  void add_rms_norm(tensor::Tensor x, const tensor::Tensor& delta, const tensor::Tensor& w,
                    float eps, float offset, tensor::Tensor out) override;
  core::Status all_reduce_add_rms_norm(tensor::Communicator& comm, tensor::Tensor t,
                                       tensor::Tensor x, const tensor::Tensor& w, float eps,
                                       float offset, tensor::Tensor out) override;
  void head_rms_norm(tensor::Tensor x, int head_dim, const tensor::Tensor& w, float eps,
                     float offset) override;
  void linear(const tensor::Tensor& x, std::span<const tensor::LinearOut> outs) override;
  void rope(tensor::Tensor x, int head_dim, int rope_id) override;
  void kv_write(tensor::KvStorage& kv, int layer, const tensor::Tensor& k,
                const tensor::Tensor& v) override;
  void rope_and_cache(tensor::Tensor q, tensor::Tensor k, const tensor::Tensor& v, int head_dim,
                      int rope_id, tensor::KvStorage& kv, int layer) override;
  void attention(const tensor::KvStorage& kv, int layer, const tensor::Tensor& q,
                 const tensor::AttentionSpec& spec, tensor::Tensor out) override;
  void rope_cache_attention(tensor::Tensor q, tensor::Tensor k, const tensor::Tensor& v,
                            int head_dim, int rope_id, tensor::KvStorage& kv, int layer,
                            const tensor::AttentionSpec& spec, tensor::Tensor out) override;
  void gated_activation(const tensor::Tensor& gate, const tensor::Tensor& up,
                        tensor::Activation act, tensor::Tensor out) override;
  void gated_linear(tensor::Tensor gate, const tensor::Tensor& up, tensor::Activation act,
                    const tensor::LinearOut& down) override;
  void gated_mlp(const tensor::Tensor& x, const tensor::Weight& gate, const tensor::Weight& up,
                 tensor::Activation act, tensor::Tensor gate_out, tensor::Tensor up_out,
                 const tensor::LinearOut& down) override;
  void moe(const tensor::Tensor& x, const tensor::MoeSpec& spec, tensor::Tensor out) override;
  void add(tensor::Tensor x, const tensor::Tensor& y) override;
  void gather_logit_rows(const tensor::Tensor& x, tensor::Tensor out) override;
  void softcap(tensor::Tensor x, float cap) override;

  core::Status copy_to_host(const tensor::Tensor& src, void* dst) override;
  core::Status upload(const void* src, tensor::Tensor dst) override;
  // LayerNorm, segment attention, rotary and pooling of vision towers, on
  // this backend's stream (errors surface through take_error).
  tensor::EncoderOps* encoder() override;
  core::Status launch_logits(const tensor::Tensor& logits, const LogitsRequest& request) override;
  core::Result<HostLogits> collect_logits() override;
  bool samples_on_device() const override { return true; }
  bool resolves_placeholder_tokens() const override { return true; }
  bool shares_sampled_ids() const override;
  core::Status share_sampled_ids(tensor::Communicator& comm, int rows) override;
  std::optional<DeviceMemory> device_memory() const override;
  DeviceTimeline device_timeline() const override;
  core::Status synchronize() override;

  // The first error any op met since the last call (ops cannot return one);
  // Model::forward's caller checks it through synchronize()/copy_to_host().
  core::Status take_error();

  // The stream every op is queued on. A tensor-parallel communicator queues
  // its collectives there too, so they order with the ops and land inside
  // the decode graphs captured between begin_step and end_step.
  CUstream_st* stream() const;
  // Whether this step replays a captured graph: its ops (and the
  // collectives captured with them) queue nothing of their own.
  bool replaying_step() const;
  // Stacked products run so far (fuses_adjacent_linears: one GEMM for
  // adjacent row ranges of one weight), for tests and logs.
  std::uint64_t stacked_gemms() const;
  // Split-K FP8 GEMMs run so far (mid-sized steps' narrow products as K
  // slices and a reduce), for tests and logs.
  std::uint64_t split_gemms() const;
  // FP8 gated MLPs run with bf16 gate and up products so far, for tests.
  std::uint64_t half_mlps() const;
  // FP8 GEMM inputs taken as the add + RMSNorm before them quantized them,
  // so far, for tests.
  std::uint64_t norm_quantized_inputs() const;
  // MoE layers run on the device path (routing without the host) so far,
  // for tests.
  std::uint64_t device_moe_layers() const;
  // Destroys the decode graphs captured so far (later pure decode steps
  // capture anew). NCCL lets a communicator go only once every graph holding
  // its collectives is gone, so a rank's communicator drops its backend's
  // graphs before it is destroyed; otherwise its destruction never returns.
  void drop_graphs();
  // Runs when this backend is destroyed (one callback; empty: none), so a
  // communicator that outlives it stops reaching back to it.
  void on_destroy(std::function<void()> callback);
  // The peer exchange of the tensor-parallel group this backend's rank
  // belongs to (its communicator's; null: none), for the fused
  // all_reduce_add_rms_norm. The communicator detaches it before freeing it.
  void attach_peers(const PeerExchange* peers);

 private:
  struct Impl;
  explicit CudaBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxs::backend::cuda
