#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include <fmt/format.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/quant_int8.h"
#include "backend/cpu/quant_kernels.h"
#include "tensor/logits.h"

namespace mlxs::backend::cpu {
namespace {

bool int8_eligible(const tensor::Weight& w) {
  return w.quant.format == tensor::QuantFormat::kAffine && (w.quant.bits == 4 || w.quant.bits == 8);
}

// The kernels' view of an imported quantized weight.
kernels::QuantMatrix quant_matrix(const tensor::Weight& w) {
  const tensor::QuantSpec& q = w.quant;
  kernels::QuantMatrix m;
  m.format = q.format;
  m.bits = q.bits;
  m.group = q.group_size;
  m.block_rows = q.block_rows;
  m.K = q.in_features;
  m.row_bytes = tensor::packed_row_bytes(q.format, q.bits, q.in_features);
  m.groups_per_row = q.groups_per_row();
  m.codes = w.w.as<const std::uint8_t>();
  m.params = kernels::param_type(q.scales.dtype);
  m.scales = q.scales.data;
  m.biases = q.biases.empty() ? nullptr : q.biases.data;
  return m;
}

using core::ErrorCode;
using core::make_error;

constexpr std::size_t kAlign = 64;
constexpr std::size_t kHugePage = 2u << 20;
// Queries per attention task: enough work to amortise the task, small enough
// that a long prefill spreads over every thread.
constexpr std::int32_t kQueryChunk = 16;

std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

class CpuKvStorage final : public KvStorage {
 public:
  CpuKvStorage(const KvCacheShape& shape, std::unique_ptr<HostBuffer> buffer)
      : shape_(shape), buffer_(std::move(buffer)) {
    block_stride_ = static_cast<std::size_t>(shape.kv_heads) * shape.block_size * shape.head_dim;
    kv_stride_ = block_stride_ * static_cast<std::size_t>(shape.blocks);
  }
  const KvCacheShape& shape() const override { return shape_; }

  // Start of (layer, K or V, block, kv head): block_size rows of head_dim.
  float* at(int layer, int which, std::int32_t block, int head) const {
    auto* base = static_cast<float*>(buffer_->data());
    return base + (static_cast<std::size_t>(layer) * 2 + which) * kv_stride_ +
           static_cast<std::size_t>(block) * block_stride_ +
           static_cast<std::size_t>(head) * shape_.block_size * shape_.head_dim;
  }

 private:
  KvCacheShape shape_;
  std::unique_ptr<HostBuffer> buffer_;
  std::size_t block_stride_ = 0;
  std::size_t kv_stride_ = 0;
};

}  // namespace

// ---------------------------------------------------------------- HostBuffer

core::Result<std::unique_ptr<HostBuffer>> HostBuffer::create(std::size_t bytes) {
  const std::size_t align = bytes >= kHugePage ? kHugePage : kAlign;
  const std::size_t size = round_up(std::max<std::size_t>(bytes, 1), align);
  void* ptr = std::aligned_alloc(align, size);
  if (ptr == nullptr) {
    return make_error(ErrorCode::kModelLoadError, "out of host memory allocating {} bytes", size);
  }
  if (align == kHugePage) madvise(ptr, size, MADV_HUGEPAGE);
  return std::unique_ptr<HostBuffer>(new HostBuffer(ptr, bytes));
}

HostBuffer::~HostBuffer() {
  std::free(data_);
}

// ---------------------------------------------------------------- setup

CpuBackend::CpuBackend(std::shared_ptr<ThreadPool> pool)
    : pool_(std::move(pool)), encoder_(*pool_) {}
CpuBackend::~CpuBackend() = default;

std::string CpuBackend::describe() const {
  return fmt::format("cpu ({} threads, {})", pool_->size(), kernels::target_name());
}

bool CpuBackend::computes_with(DType dtype) const {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

core::Result<std::unique_ptr<DeviceBuffer>> CpuBackend::allocate(std::size_t bytes) {
  MLXS_ASSIGN_OR_RETURN(auto buffer, HostBuffer::create(bytes));
  std::memset(buffer->data(), 0, bytes);
  return std::unique_ptr<DeviceBuffer>(std::move(buffer));
}

core::Result<Tensor> CpuBackend::import_tensor(const Tensor& host, bool widen_to_f32) {
  if (!widen_to_f32 && computes_with(host.dtype)) return host;
  if (!computes_with(host.dtype) && host.dtype != DType::kF64) {
    return make_error(ErrorCode::kModelLoadError, "tensor of dtype {} cannot be computed with",
                      tensor::dtype_name(host.dtype));
  }
  MLXS_ASSIGN_OR_RETURN(auto buffer,
                        HostBuffer::create(static_cast<std::size_t>(host.numel()) * sizeof(float)));
  auto* dst = static_cast<float*>(buffer->data());
  if (host.dtype == DType::kF64) {
    const auto* src = host.as<const double>();
    for (std::int64_t i = 0; i < host.numel(); ++i) dst[i] = static_cast<float>(src[i]);
  } else {
    kernels::to_f32(host.dtype, host.data, dst, host.numel());
  }
  Tensor out = host;
  out.data = dst;
  out.dtype = DType::kF32;
  owned_.push_back(std::move(buffer));
  return out;
}

bool CpuBackend::int8_activations() const {
  return int8_activations_ && kernels::int8_path_available(int8_digits_);
}

core::Result<tensor::Weight> CpuBackend::import_quantized(const tensor::Weight& host) {
  // Codes stay where they are (the mapped checkpoint). Affine scales and
  // biases stay too when they are 16-bit floats: the kernels widen them in
  // registers, so decode reads only the checkpoint's bytes (f64 ones, FP8
  // block scales, and biases of another dtype than the scales are widened to
  // f32 once).
  tensor::Weight out = host;
  const bool widen =
      host.quant.format != tensor::QuantFormat::kAffine ||
      (!host.quant.biases.empty() && host.quant.biases.dtype != host.quant.scales.dtype);
  MLXS_ASSIGN_OR_RETURN(out.quant.scales, import_tensor(host.quant.scales, widen));
  if (!host.quant.biases.empty()) {
    MLXS_ASSIGN_OR_RETURN(out.quant.biases, import_tensor(host.quant.biases, widen));
  }
  if (!host.bias.empty()) {
    MLXS_ASSIGN_OR_RETURN(out.bias, import_tensor(host.bias, true));
  }
  return out;
}

float* CpuBackend::scratch(std::size_t& offset, std::size_t floats) {
  float* p = static_cast<float*>(scratch_->data()) + offset;
  offset += round_up(floats, kAlign / sizeof(float));
  return p;
}

core::Status CpuBackend::plan_step(const StepCapacity& capacity) {
  capacity_ = capacity;
  argmax_.assign(static_cast<std::size_t>(std::max(capacity.max_logit_rows, 1)), 0);
  const auto T = static_cast<std::size_t>(std::max(capacity.max_tokens, 1));
  const auto in = static_cast<std::size_t>(std::max<std::int64_t>(capacity.max_linear_in, 1));
  const auto threads = static_cast<std::size_t>(pool_->size());
  const auto ctx = static_cast<std::size_t>(std::max(capacity.max_context, 1));
  const auto experts = static_cast<std::size_t>(capacity.moe_experts);
  const auto top_k = static_cast<std::size_t>(std::max(capacity.moe_top_k, 1));
  const auto moe_ffn = static_cast<std::size_t>(capacity.moe_ffn);
  std::size_t rope_floats = 0;
  for (const auto& rope : ropes_) rope_floats += T * static_cast<std::size_t>(rope.spec.rot_dim);
  const std::size_t padding = kAlign / sizeof(float);
  const std::size_t blocks = in / kernels::kLinearBlock + 1;
  const auto tile = static_cast<std::size_t>(kernels::kQuantTileRows) * in;
  const std::size_t int8_row = kernels::int8_row_floats(static_cast<std::int64_t>(in));
  std::size_t total = T * in + T * blocks + threads * tile + int8_row + threads * ctx +
                      rope_floats + (ropes_.size() + 16) * padding +
                      static_cast<std::size_t>(capacity.max_seqs + 1);
  if (experts > 0) {
    total += T * experts + T * in * 2 + T * moe_ffn * 2 + T * top_k * 2 + T * 2;
  }
  MLXS_ASSIGN_OR_RETURN(scratch_, HostBuffer::create(total * sizeof(float)));
  std::size_t offset = 0;
  xprep_ = scratch(offset, T * in);
  xsum_ = scratch(offset, T * blocks);
  quant_tiles_ = scratch(offset, threads * tile);
  int8_row_ = scratch(offset, int8_row);
  scores_ = scratch(offset, threads * ctx);
  for (auto& rope : ropes_)
    rope.cos_sin = scratch(offset, T * static_cast<std::size_t>(rope.spec.rot_dim));
  task_seq_ = reinterpret_cast<std::int32_t*>(
      scratch(offset, static_cast<std::size_t>(capacity.max_seqs + 1)));
  if (experts > 0) {
    moe_logits_ = scratch(offset, T * experts);
    moe_in_ = scratch(offset, T * in);
    moe_out_ = scratch(offset, T * in);
    moe_gate_ = scratch(offset, T * moe_ffn);
    moe_up_ = scratch(offset, T * moe_ffn);
    moe_choice_ = reinterpret_cast<std::int32_t*>(scratch(offset, T * top_k));
    moe_weight_ = scratch(offset, T * top_k);
    moe_rows_ = reinterpret_cast<std::int32_t*>(scratch(offset, T));
    moe_row_weight_ = scratch(offset, T);
  }
  return core::Status::ok();
}

int CpuBackend::register_rope(const RopeSpec& spec) {
  ropes_.push_back(Rope{spec, nullptr});
  // Registered after plan_step: size the scratch again (load time only).
  if (scratch_) (void)plan_step(capacity_);
  return static_cast<int>(ropes_.size()) - 1;
}

core::Result<std::unique_ptr<KvStorage>> CpuBackend::create_kv_storage(const KvCacheShape& shape) {
  if (shape.dtype != DType::kF32) {
    return make_error(ErrorCode::kUnsupported, "the CPU KV cache stores f32 only");
  }
  MLXS_ASSIGN_OR_RETURN(auto buffer, HostBuffer::create(shape.bytes()));
  return std::unique_ptr<KvStorage>(new CpuKvStorage(shape, std::move(buffer)));
}

// ---------------------------------------------------------------- per step

void CpuBackend::begin_step(const StepBatch& batch) {
  batch_ = batch;
  const auto T = static_cast<std::int64_t>(batch.tokens.size());
  for (auto& rope : ropes_) {
    const int half = rope.spec.rot_dim / 2;
    for (std::int64_t t = 0; t < T; ++t) {
      float* cs = rope.cos_sin + t * rope.spec.rot_dim;
      const double pos = batch.positions[static_cast<std::size_t>(t)];
      const bool axes = !rope.spec.axis.empty() && !batch.rope_positions.empty();
      for (int i = 0; i < half; ++i) {
        const auto f = static_cast<std::size_t>(i);
        const double p =
            axes ? batch.rope_positions[rope.spec.axis[f] * static_cast<std::size_t>(T) +
                                        static_cast<std::size_t>(t)]
                 : pos;
        const double angle = p * rope.spec.inv_freq[f];
        cs[i] = static_cast<float>(std::cos(angle) * rope.spec.attention_factor);
        cs[half + i] = static_cast<float>(std::sin(angle) * rope.spec.attention_factor);
      }
    }
  }
  // Attention tasks: per sequence, one per chunk of its new tokens (x kv heads).
  task_seq_[0] = 0;
  for (std::size_t s = 0; s < batch.seqs.size(); ++s) {
    const std::int32_t chunks = (batch.seqs[s].token_count + kQueryChunk - 1) / kQueryChunk;
    task_seq_[s + 1] = task_seq_[s] + chunks;
  }
}

core::Status CpuBackend::share_sampled_ids(tensor::Communicator& comm, int rows) {
  if (rows < 0 || static_cast<std::size_t>(rows) > argmax_.size()) {
    return core::Status(core::ErrorCode::kInvalidParams, "more sampled ids than logit rows");
  }
  return comm.broadcast_from_first(tensor::Tensor(argmax_.data(), tensor::DType::kI32, {rows}));
}

std::int32_t CpuBackend::step_token(std::size_t t) const {
  // Model::validate keeps a placeholder within the logit rows planned.
  const std::int32_t token = batch_.tokens[t];
  return token >= 0 ? token : argmax_[static_cast<std::size_t>(-1 - token)];
}

void CpuBackend::embed(const tensor::Weight& weight, float scale, Tensor out,
                       std::int64_t first_token) {
  const Tensor& table = weight.w;
  const std::int64_t H = weight.in_features();
  const std::size_t row_bytes = static_cast<std::size_t>(H) * tensor::dtype_size(table.dtype);
  const auto* base = static_cast<const char*>(table.data);
  for (std::size_t t = 0; t < batch_.tokens.size(); ++t) {
    float* dst = out.as<float>() + static_cast<std::int64_t>(t) * H;
    const std::int64_t row = step_token(t) - first_token;
    if (row < 0 || row >= weight.out_features()) {  // another rank's slice of the vocabulary
      std::fill(dst, dst + H, 0.0f);
      continue;
    }
    if (weight.quantized()) {
      tensor::dequantize_rows(table, weight.quant, row, row + 1, dst);
    } else {
      kernels::to_f32(table.dtype, base + static_cast<std::size_t>(row) * row_bytes, dst, H);
    }
    if (scale != 1.0f) kernels::scale(dst, scale, H);
  }
}

void CpuBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, float offset, Tensor out) {
  const std::int64_t H = x.cols();
  pool_->parallel_for(x.rows(), 8, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      kernels::rms_norm(x.as<float>() + r * H, w.as<float>(), eps, offset, out.as<float>() + r * H,
                        H);
    }
  });
}

void CpuBackend::add_rms_norm(Tensor x, const Tensor& delta, const Tensor& w, float eps,
                              float offset, Tensor out) {
  const std::int64_t H = x.cols();
  pool_->parallel_for(x.rows(), 8, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      float* xr = x.as<float>() + r * H;
      kernels::add(xr, delta.as<float>() + r * H, H);
      kernels::rms_norm(xr, w.as<float>(), eps, offset, out.as<float>() + r * H, H);
    }
  });
}

void CpuBackend::head_rms_norm(Tensor x, int head_dim, const Tensor& w, float eps, float offset) {
  const std::int64_t rows = x.numel() / head_dim;
  pool_->parallel_for(rows, 32, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      float* head = x.as<float>() + r * head_dim;
      kernels::rms_norm(head, w.as<float>(), eps, offset, head, head_dim);
    }
  });
}

void CpuBackend::linear_impl(const float* x, std::int64_t M, std::int64_t K,
                             std::span<const LinearOut> outs) {
  // One input row against 4/8-bit affine weights: the int8 path.
  const bool int8_row = M == 1 && K % kernels::kLinearBlock == 0 && int8_activations();
  // bf16 and 4-bit weights read the input in a rearranged layout; others
  // read x as is. Affine weights also need the input's block sums. The int8
  // path needs neither.
  bool use_int8 = false;
  bool need_prep = false;
  bool need_sums = false;
  std::int64_t total = 0;
  for (const auto& o : outs) {
    const tensor::Weight& w = *o.weight;
    total += w.out_features();
    if (int8_row && int8_eligible(w)) {
      use_int8 = true;
      continue;
    }
    need_prep |= w.w.dtype == DType::kBF16 || (w.quantized() && w.quant.bits == 4);
    need_sums |= w.quant.format == tensor::QuantFormat::kAffine;
  }
  kernels::Int8Row row;
  if (use_int8) {
    row = kernels::int8_row_in(int8_row_, K, int8_digits_ == 1);
    kernels::quantize_row_int8(x, K, row);
  }
  if (need_prep) kernels::prepare_linear_input(DType::kBF16, x, M, K, xprep_);
  if (need_sums) kernels::block_sums(x, M, K, xsum_);
  // Chunks of the concatenated output rows of all weights go to whichever
  // thread is free: about eight per thread, a multiple of the 16-row tiles.
  const std::int64_t per = (total + pool_->size() * 8 - 1) / (pool_->size() * 8);
  const std::int64_t chunk = std::max<std::int64_t>(16, (per + 15) / 16 * 16);
  pool_->parallel_chunks(total, chunk, [&](int thread, std::int64_t n0, std::int64_t n1) {
    std::int64_t base = 0;
    for (const auto& o : outs) {
      const std::int64_t N = o.weight->out_features();
      const std::int64_t lo = std::max(n0, base);
      const std::int64_t hi = std::min(n1, base + N);
      if (lo < hi) {
        const Tensor& w = o.weight->w;
        const float* bias = o.weight->bias.empty() ? nullptr : o.weight->bias.as<float>();
        if (use_int8 && int8_eligible(*o.weight)) {
          kernels::int8_linear_rows(quant_matrix(*o.weight), row, lo - base, hi - base, bias,
                                    o.out.as<float>());
        } else if (o.weight->quantized()) {
          float* tile = quant_tiles_ + static_cast<std::size_t>(thread) *
                                           static_cast<std::size_t>(kernels::kQuantTileRows * K);
          kernels::quant_linear_rows(quant_matrix(*o.weight), x, xprep_, xsum_, M, lo - base,
                                     hi - base, bias, o.out.as<float>(), N, tile);
        } else {
          const float* in = w.dtype == DType::kBF16 ? xprep_ : x;
          kernels::linear_rows(w.dtype, in, M, K, w.data, lo - base, hi - base, bias,
                               o.out.as<float>(), N);
        }
      }
      base += N;
    }
  });
}

void CpuBackend::linear(const Tensor& x, std::span<const LinearOut> outs) {
  linear_impl(x.as<float>(), x.rows(), x.cols(), outs);
}

void CpuBackend::rope(Tensor x, int head_dim, int rope_id) {
  const Rope& rope = ropes_[static_cast<std::size_t>(rope_id)];
  const int half = rope.spec.rot_dim / 2;
  const std::int64_t T = x.rows();
  const std::int64_t heads = x.cols() / head_dim;
  pool_->parallel_for(T, 4, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      kernels::rotate_half(x.as<float>() + t * x.cols(), heads, head_dim, half,
                           rope.cos_sin + t * rope.spec.rot_dim);
    }
  });
}

void CpuBackend::kv_write(KvStorage& kv, int layer, const Tensor& k, const Tensor& v) {
  auto& store = static_cast<CpuKvStorage&>(kv);
  const auto& shape = store.shape();
  const std::size_t bytes = static_cast<std::size_t>(shape.head_dim) * sizeof(float);
  for (const auto& seq : batch_.seqs) {
    for (std::int32_t i = 0; i < seq.token_count; ++i) {
      const std::int32_t t = seq.token_begin + i;
      const std::int32_t pos = batch_.positions[static_cast<std::size_t>(t)];
      const std::int32_t block = seq.block_table[pos / shape.block_size];
      const std::int32_t slot = pos % shape.block_size;
      for (int h = 0; h < shape.kv_heads; ++h) {
        const std::size_t src = (static_cast<std::size_t>(t) * shape.kv_heads + h) * shape.head_dim;
        const std::size_t dst = static_cast<std::size_t>(slot) * shape.head_dim;
        std::memcpy(store.at(layer, 0, block, h) + dst, k.as<float>() + src, bytes);
        std::memcpy(store.at(layer, 1, block, h) + dst, v.as<float>() + src, bytes);
      }
    }
  }
}

void CpuBackend::attention(const KvStorage& kv, int layer, const Tensor& q,
                           const AttentionSpec& spec, Tensor out) {
  const auto& store = static_cast<const CpuKvStorage&>(kv);
  const int bs = store.shape().block_size;
  const int hd = spec.head_dim;
  const int group = spec.n_heads / spec.n_kv_heads;
  const std::int64_t row = static_cast<std::int64_t>(spec.n_heads) * hd;
  const std::int64_t chunks = task_seq_[batch_.seqs.size()];
  const std::int64_t tasks = chunks * spec.n_kv_heads;
  const auto ctx_stride = static_cast<std::size_t>(std::max(capacity_.max_context, 1));
  next_task_.store(0, std::memory_order_relaxed);

  pool_->run([&](int thread, int /*count*/) {
    float* scores = scores_ + static_cast<std::size_t>(thread) * ctx_stride;
    for (;;) {
      const std::int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
      if (task >= tasks) break;
      const std::int64_t chunk = task / spec.n_kv_heads;
      const int g = static_cast<int>(task % spec.n_kv_heads);
      // Find the sequence owning this chunk (few sequences per step).
      std::size_t s = 0;
      while (task_seq_[s + 1] <= chunk) ++s;
      const auto& seq = batch_.seqs[s];
      const std::int32_t first =
          seq.token_begin + (static_cast<std::int32_t>(chunk) - task_seq_[s]) * kQueryChunk;
      const std::int32_t last = std::min(first + kQueryChunk, seq.token_begin + seq.token_count);
      for (std::int32_t t = first; t < last; ++t) {
        const std::int32_t pos = batch_.positions[static_cast<std::size_t>(t)];
        const std::int32_t lo = spec.window > 0 ? std::max(0, pos - spec.window + 1) : 0;
        // The last key: its own position, or past it for a bidirectional span.
        const std::int32_t last_key =
            batch_.attend_until.empty()
                ? pos
                : std::max(pos, batch_.attend_until[static_cast<std::size_t>(t)] - 1);
        const std::int32_t n = last_key + 1 - lo;
        for (int r = 0; r < group; ++r) {
          const int h = g * group + r;
          const float* qv = q.as<float>() + t * row + h * hd;
          for (std::int32_t j = lo; j <= last_key; ++j) {
            const float* kj = store.at(layer, 0, seq.block_table[j / bs], g) + (j % bs) * hd;
            scores[j - lo] = kernels::dot(qv, kj, hd) * spec.scale;
          }
          if (spec.softcap > 0.0f) kernels::softcap(scores, spec.softcap, n);
          const float mx = kernels::max_of(scores, n);
          const float inv = 1.0f / kernels::exp_sub_sum(scores, mx, n);
          float* o = out.as<float>() + t * row + h * hd;
          std::memset(o, 0, static_cast<std::size_t>(hd) * sizeof(float));
          for (std::int32_t j = lo; j <= last_key; ++j) {
            const float* vj = store.at(layer, 1, seq.block_table[j / bs], g) + (j % bs) * hd;
            kernels::axpy(scores[j - lo] * inv, vj, o, hd);
          }
        }
      }
    }
  });
}

void CpuBackend::gated_activation(const Tensor& gate, const Tensor& up, Activation act,
                                  Tensor out) {
  const std::int64_t n = gate.cols();
  pool_->parallel_for(gate.rows(), 4, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* g = gate.as<float>() + r * n;
      const float* u = up.as<float>() + r * n;
      float* o = out.as<float>() + r * n;
      switch (act) {
        case Activation::kSilu:
          kernels::silu_mul(g, u, o, n);
          break;
        case Activation::kGeluTanh:
          kernels::gelu_tanh_mul(g, u, o, n);
          break;
        case Activation::kGelu:
          for (std::int64_t i = 0; i < n; ++i) {
            o[i] = 0.5f * g[i] * (1.0f + std::erf(g[i] * 0.7071067811865476f)) * u[i];
          }
          break;
        case Activation::kQuickGelu:
          for (std::int64_t i = 0; i < n; ++i)
            o[i] = g[i] / (1.0f + std::exp(-1.702f * g[i])) * u[i];
          break;
      }
    }
  });
}

void CpuBackend::rope_and_cache(Tensor q, Tensor k, const Tensor& v, int head_dim, int rope_id,
                                KvStorage& kv, int layer) {
  rope(q, head_dim, rope_id);
  rope(k, head_dim, rope_id);
  kv_write(kv, layer, k, v);
}

void CpuBackend::gated_linear(Tensor gate, const Tensor& up, Activation act,
                              const LinearOut& down) {
  gated_activation(gate, up, act, gate);
  linear(gate, std::span<const LinearOut>(&down, 1));
}

void CpuBackend::moe(const Tensor& x, const MoeSpec& spec, Tensor out) {
  const std::int64_t T = x.rows();
  const std::int64_t H = x.cols();
  const auto E = static_cast<int>(spec.gate.size());
  const int k = spec.top_k;
  // Router: softmax over experts, keep the top k (ties to the lower index).
  Tensor logits(moe_logits_, DType::kF32, {T, E});
  const LinearOut router{spec.router, logits};
  linear_impl(x.as<float>(), T, H, std::span<const LinearOut>(&router, 1));
  for (std::int64_t t = 0; t < T; ++t) {
    float* p = moe_logits_ + t * E;
    const float mx = kernels::max_of(p, E);
    double sum = 0;
    for (int e = 0; e < E; ++e) sum += std::exp(static_cast<double>(p[e]) - mx);
    std::int32_t* choice = moe_choice_ + t * k;
    float* weight = moe_weight_ + t * k;
    for (int i = 0; i < k; ++i) {
      int best = -1;
      for (int e = 0; e < E; ++e) {
        bool taken = false;
        for (int j = 0; j < i; ++j) taken |= choice[j] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      choice[i] = best;
      weight[i] = static_cast<float>(std::exp(static_cast<double>(p[best]) - mx) / sum);
    }
    if (spec.norm_topk_prob) {
      double top = 0;
      for (int i = 0; i < k; ++i) top += weight[i];
      for (int i = 0; i < k; ++i) weight[i] = static_cast<float>(weight[i] / top);
    }
  }
  std::memset(out.data, 0, static_cast<std::size_t>(T * H) * sizeof(float));
  // One pass per expert over the rows routed to it.
  for (int e = 0; e < E; ++e) {
    std::int64_t count = 0;
    for (std::int64_t t = 0; t < T; ++t) {
      for (int i = 0; i < k; ++i) {
        if (moe_choice_[t * k + i] == e) {
          moe_rows_[count] = static_cast<std::int32_t>(t);
          moe_row_weight_[count] = moe_weight_[t * k + i];
          ++count;
        }
      }
    }
    if (count == 0) continue;
    for (std::int64_t r = 0; r < count; ++r) {
      std::memcpy(moe_in_ + r * H, x.as<float>() + moe_rows_[r] * H,
                  static_cast<std::size_t>(H) * sizeof(float));
    }
    const std::int64_t F = spec.gate[static_cast<std::size_t>(e)].out_features();
    Tensor g(moe_gate_, DType::kF32, {count, F});
    Tensor u(moe_up_, DType::kF32, {count, F});
    const LinearOut gate_up[2] = {{&spec.gate[static_cast<std::size_t>(e)], g},
                                  {&spec.up[static_cast<std::size_t>(e)], u}};
    linear_impl(moe_in_, count, H, gate_up);
    gated_activation(g, u, spec.activation, g);
    Tensor d(moe_out_, DType::kF32, {count, H});
    const LinearOut down{&spec.down[static_cast<std::size_t>(e)], d};
    linear_impl(moe_gate_, count, F, std::span<const LinearOut>(&down, 1));
    for (std::int64_t r = 0; r < count; ++r) {
      kernels::axpy(moe_row_weight_[r], moe_out_ + r * H, out.as<float>() + moe_rows_[r] * H, H);
    }
  }
}

void CpuBackend::add(Tensor x, const Tensor& y) {
  const std::int64_t n = x.numel();
  pool_->parallel_for(n, 4096, [&](std::int64_t i0, std::int64_t i1) {
    kernels::add(x.as<float>() + i0, y.as<float>() + i0, i1 - i0);
  });
}

void CpuBackend::gather_logit_rows(const Tensor& x, Tensor out) {
  const std::int64_t H = x.cols();
  for (std::size_t i = 0; i < batch_.logit_rows.size(); ++i) {
    std::memcpy(out.as<float>() + static_cast<std::int64_t>(i) * H,
                x.as<float>() + static_cast<std::int64_t>(batch_.logit_rows[i]) * H,
                static_cast<std::size_t>(H) * sizeof(float));
  }
}

void CpuBackend::softcap(Tensor x, float cap) {
  const std::int64_t n = x.numel();
  pool_->parallel_for(n, 4096, [&](std::int64_t i0, std::int64_t i1) {
    kernels::softcap(x.as<float>() + i0, cap, i1 - i0);
  });
}

core::Status CpuBackend::copy_to_host(const Tensor& src, void* dst) {
  std::memcpy(dst, src.data, src.nbytes());
  return core::Status::ok();
}

core::Status CpuBackend::upload(const void* src, Tensor dst) {
  std::memcpy(dst.data, src, dst.nbytes());
  return core::Status::ok();
}

core::Status CpuBackend::launch_logits(const Tensor& logits, const LogitsRequest& request) {
  // The rows are already host memory: mask and reduce them in place.
  launched_.reset();
  const auto rows = static_cast<std::size_t>(logits.shape[0]);
  const auto vocab = static_cast<std::size_t>(logits.shape[1]);
  // The host sampler reads these rows where they are: nothing to draw here.
  if (!request.draws.empty() || rows > argmax_.size() || request.full_rows.size() != rows ||
      request.masks.size() < request.masked_rows.size() * request.mask_words) {
    return core::Status(ErrorCode::kInternalError,
                        "launch_logits: request does not match the logits");
  }
  float* data = logits.as<float>();
  for (std::size_t i = 0; i < request.masked_rows.size(); ++i) {
    const auto r = static_cast<std::size_t>(request.masked_rows[i]);
    if (r >= rows)
      return core::Status(ErrorCode::kInternalError, "launch_logits: masked row out of range");
    tensor::apply_allowed_mask({data + r * vocab, vocab},
                               request.masks.subspan(i * request.mask_words, request.mask_words));
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (request.full_rows[r] == 0) argmax_[r] = tensor::first_argmax({data + r * vocab, vocab});
  }
  launched_ = HostLogits{data, argmax_.data()};
  return core::Status::ok();
}

core::Result<tensor::Backend::HostLogits> CpuBackend::collect_logits() {
  if (!launched_) {
    return core::Status(ErrorCode::kInternalError, "collect_logits: nothing was launched");
  }
  return *launched_;
}

}  // namespace mlxs::backend::cpu
