#pragma once
// The CPU implementation of tensor::Backend: f32 activations, f32/f16/bf16
// weights read in place from the mapped checkpoint, a paged f32 KV cache, and
// every op spread over a shared thread pool.

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "backend/cpu/cpu_encoder_ops.h"
#include "backend/cpu/thread_pool.h"
#include "tensor/backend.h"

namespace mlxs::backend::cpu {

using tensor::Activation;
using tensor::AttentionSpec;
using tensor::DeviceBuffer;
using tensor::DType;
using tensor::KvCacheShape;
using tensor::KvStorage;
using tensor::LinearOut;
using tensor::MoeSpec;
using tensor::RopeSpec;
using tensor::StepBatch;
using tensor::StepCapacity;
using tensor::Tensor;

// Host memory, 64-byte aligned (2 MiB and transparent huge pages when large).
class HostBuffer final : public DeviceBuffer {
 public:
  static core::Result<std::unique_ptr<HostBuffer>> create(std::size_t bytes);
  ~HostBuffer() override;
  void* data() const override { return data_; }
  std::size_t size() const override { return size_; }

 private:
  HostBuffer(void* data, std::size_t size) : data_(data), size_(size) {}
  void* data_;
  std::size_t size_;
};

// Not final: a test derives a backend that copies its imports and fuses
// adjacent linears, to bind models as a device backend would (Binder::stacked).
class CpuBackend : public tensor::Backend {
 public:
  // The pool may be shared by several models' backends (one device).
  explicit CpuBackend(std::shared_ptr<ThreadPool> pool);
  ~CpuBackend() override;

  tensor::Device device() const override { return tensor::Device::kCpu; }
  std::string describe() const override;

  bool computes_with(DType dtype) const override;
  core::Result<std::unique_ptr<DeviceBuffer>> allocate(std::size_t bytes) override;
  core::Result<Tensor> import_tensor(const Tensor& host, bool widen_to_f32) override;
  core::Result<tensor::Weight> import_quantized(const tensor::Weight& host) override;
  core::Status plan_step(const StepCapacity& capacity) override;
  int register_rope(const RopeSpec& spec) override;
  core::Result<std::unique_ptr<KvStorage>> create_kv_storage(const KvCacheShape& shape) override;

  void begin_step(const StepBatch& batch) override;
  void end_step() override {}
  void embed(const tensor::Weight& table, float scale, Tensor out,
             std::int64_t first_token) override;
  void rms_norm(const Tensor& x, const Tensor& w, float eps, float offset, Tensor out) override;
  void add_rms_norm(Tensor x, const Tensor& delta, const Tensor& w, float eps, float offset,
                    Tensor out) override;
  void head_rms_norm(Tensor x, int head_dim, const Tensor& w, float eps, float offset) override;
  void linear(const Tensor& x, std::span<const LinearOut> outs) override;
  void rope(Tensor x, int head_dim, int rope_id) override;
  void kv_write(KvStorage& kv, int layer, const Tensor& k, const Tensor& v) override;
  void rope_and_cache(Tensor q, Tensor k, const Tensor& v, int head_dim, int rope_id, KvStorage& kv,
                      int layer) override;
  void attention(const KvStorage& kv, int layer, const Tensor& q, const AttentionSpec& spec,
                 Tensor out) override;
  void gated_activation(const Tensor& gate, const Tensor& up, Activation act, Tensor out) override;
  void gated_linear(Tensor gate, const Tensor& up, Activation act, const LinearOut& down) override;
  void moe(const Tensor& x, const MoeSpec& spec, Tensor out) override;
  void add(Tensor x, const Tensor& y) override;
  void gather_logit_rows(const Tensor& x, Tensor out) override;
  void softcap(Tensor x, float cap) override;

  core::Status copy_to_host(const Tensor& src, void* dst) override;
  core::Status upload(const void* src, Tensor dst) override;
  tensor::EncoderOps* encoder() override { return &encoder_; }
  // Placeholders read the argmax of the last launch_logits: on the CPU this
  // gains nothing (a step computes when issued), but it runs the engine's
  // overlap mode where CI can test it.
  bool resolves_placeholder_tokens() const override { return true; }
  bool shares_sampled_ids() const override { return true; }
  core::Status share_sampled_ids(tensor::Communicator& comm, int rows) override;
  core::Status launch_logits(const Tensor& logits, const LogitsRequest& request) override;
  core::Result<HostLogits> collect_logits() override;
  core::Status synchronize() override { return core::Status::ok(); }

  ThreadPool& pool() { return *pool_; }

  // 4- and 8-bit affine weights multiply a single input row quantized to
  // int8 (quant_int8.h) where the CPU has VNNI: on by default, off for
  // results exact in f32 (the parity tests' 1e-3 check).
  void set_int8_activations(bool on) { int8_activations_ = on; }
  bool int8_activations() const;
  // Digits per element of that int8 input: 1 (llama.cpp's Q8 blocks, half
  // the dot products) or 2 (16 bits of each block's range, near-exact).
  void set_int8_digits(int digits) { int8_digits_ = digits; }

 private:
  struct Rope {
    RopeSpec spec;
    float* cos_sin = nullptr;  // per step: [T][rot_dim / 2] cos then sin
  };
  float* scratch(std::size_t& offset, std::size_t floats);
  // The step's token t, a placeholder resolved.
  std::int32_t step_token(std::size_t t) const;
  void linear_impl(const float* x, std::int64_t M, std::int64_t K, std::span<const LinearOut> outs);

  std::shared_ptr<ThreadPool> pool_;
  CpuEncoderOps encoder_;
  StepCapacity capacity_;
  std::vector<std::unique_ptr<DeviceBuffer>> owned_;  // converted weights
  std::vector<Rope> ropes_;
  std::vector<std::int32_t> argmax_;    // launch_logits: per logit row
  std::optional<HostLogits> launched_;  // what collect_logits hands back
  std::unique_ptr<HostBuffer> scratch_;
  // Views into scratch_, set by plan_step.
  float* xprep_ = nullptr;        // [max_tokens, max_linear_in]
  float* xsum_ = nullptr;         // [max_tokens, max_linear_in / 32] block sums
  float* quant_tiles_ = nullptr;  // [threads, kQuantTileRows * max_linear_in]
  float* int8_row_ = nullptr;     // one input row for the int8 path (see plan_step)
  bool int8_activations_ = true;
  int int8_digits_ = 1;
  float* scores_ = nullptr;             // [threads, max_context]
  float* moe_logits_ = nullptr;         // [max_tokens, experts]
  float* moe_in_ = nullptr;             // [max_tokens, max_linear_in]
  float* moe_gate_ = nullptr;           // [max_tokens, moe_ffn]
  float* moe_up_ = nullptr;             // [max_tokens, moe_ffn]
  float* moe_out_ = nullptr;            // [max_tokens, max_linear_in]
  std::int32_t* moe_choice_ = nullptr;  // [max_tokens, top_k] expert ids
  float* moe_weight_ = nullptr;         // [max_tokens, top_k]
  std::int32_t* moe_rows_ = nullptr;    // [max_tokens] rows routed to one expert
  float* moe_row_weight_ = nullptr;     // [max_tokens]
  std::int32_t* task_seq_ = nullptr;    // [max_seqs + 1] prefix of attention tasks
  StepBatch batch_;
  std::atomic<std::int64_t> next_task_{0};
};

}  // namespace mlxs::backend::cpu
