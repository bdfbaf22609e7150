#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <optional>
#include <set>

#include "core/half.h"
#include "core/json_util.h"
#include "core/log.h"
#include "model/binder.h"
#include "model/kv_scales.h"
#include "model/load_error.h"
#include "model/quant_binder.h"
#include "model/rope.h"
#include "model/shard_loader.h"
#include "model/shard_plan.h"

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Result;
using core::Status;
using tensor::DType;
using tensor::Tensor;
using tensor::Weight;

// The most patch rows of one image a variable-size tower (Qwen2-VL) may see:
// the preprocessor's max_pixels over the patch area, or a default that fits
// a 1344 x 1344 image when the file does not say.
std::int64_t max_patches_from_preprocessor(const std::string& dir, const VisionConfig& vision) {
  if (vision.projector != ProjectorKind::kQwenMerger) return 0;
  const std::int64_t area = vision.patch * vision.patch;
  std::int64_t pixels = 1344 * 1344;
  const auto path = std::filesystem::path(dir) / "preprocessor_config.json";
  auto doc = core::read_json_file(path.string(), "preprocessor_config.json",
                                  ErrorCode::kModelLoadError, 1u << 20);
  if (doc.is_ok() && doc->is_object()) {
    const core::Json& j = *doc;
    if (auto it = j.find("max_pixels"); it != j.end() && it->is_number_integer()) {
      pixels = it->get<std::int64_t>();
    } else if (auto size = j.find("size"); size != j.end() && size->is_object()) {
      if (auto edge = size->find("longest_edge");
          edge != size->end() && edge->is_number_integer()) {
        pixels = edge->get<std::int64_t>();
      }
    }
  }
  return std::clamp<std::int64_t>(pixels / area, 4, std::int64_t{1} << 20);
}

// Tensors of the vision tower and projector (not read per decoded token).
bool is_vision_tensor(const std::string& name) {
  for (const char* p : {"vision_tower.", "visual.", "multi_modal_projector.", "model.vision_tower.",
                        "model.visual.", "model.multi_modal_projector."}) {
    if (name.rfind(p, 0) == 0) return true;
  }
  return false;
}

}  // namespace

Status check_quantization_name(const std::string& name) {
  if (keeps_weights(name) || name == "int4" || name == "int8" || name == "fp8") return Status::ok();
  return Status(ErrorCode::kInvalidParams,
                fmt::format("quantization \"{}\" is not one of none, int4, int8, fp8, bf16, fp16",
                            name.substr(0, 32)));
}

Model::Model(tensor::Backend& backend, LoadOptions options)
    : backend_(backend), options_(std::move(options)) {}
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::load(const std::string& dir, tensor::Backend& backend,
                                           const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return load_error("model directory not found");
  if (options.max_batch_tokens <= 0 || options.max_seqs <= 0 || options.max_logit_rows <= 0 ||
      options.max_context < 0) {
    return Status(ErrorCode::kInvalidParams, "load options must be positive");
  }
  std::unique_ptr<Model> model(new Model(backend, options));
  MLXS_ASSIGN_OR_RETURN(
      auto doc, core::read_json_file((fs::path(dir) / options.config_file).string(),
                                     options.config_file, ErrorCode::kModelLoadError, 16u << 20));
  MLXS_ASSIGN_OR_RETURN(model->config_, parse_model_config(doc, options.config_file));
  MLXS_ASSIGN_OR_RETURN(const auto vision, parse_vision_config(doc, options.config_file));
  if (vision && model->options_.max_image_patches <= 0) {
    model->options_.max_image_patches = max_patches_from_preprocessor(dir, *vision);
  }
  // Tensor parallelism: this rank's head counts and widths from here on.
  tensor::Communicator* comm = options.communicator;
  MLXS_ASSIGN_OR_RETURN(const ShardPlan shard,
                        ShardPlan::make(model->config_, comm ? comm->rank() : 0,
                                        comm ? comm->world_size() : 1, vision.has_value()));
  model->config_ = shard.local();
  model->comm_ = shard.sharded() ? comm : nullptr;
  model->vocab_begin_ = shard.vocab_range().begin;
  model->vocab_rows_ = shard.vocab_rows();
  MLXS_ASSIGN_OR_RETURN(model->generation_, load_generation_config(dir));
  model->traits_ = arch_traits(model->config_.arch);
  model->max_context_ =
      options.max_context > 0
          ? options.max_context
          : static_cast<int>(std::min<std::int64_t>(model->config_.max_position, 1 << 20));
  MLXS_ASSIGN_OR_RETURN(model->store_, WeightStore::open_dir(dir));
  MLXS_RETURN_IF_ERROR(shard_weights(*model->store_, shard));
  MLXS_RETURN_IF_ERROR(model->bind_weights(vision));
  MLXS_RETURN_IF_ERROR(model->plan_memory());
  // Not under tensor parallelism: the pass joins the group's collectives,
  // and a rank whose load failed would leave the others waiting in them;
  // the group calibrates once every rank has loaded
  // (engine::TensorParallelGroup::calibrate_kv_scales).
  if (model->kv_calibration_due() && model->comm_ == nullptr) {
    MLXS_RETURN_IF_ERROR(model->calibrate_kv_scales(options.kv_calibration_tokens));
  }
  return model;
}

Status Model::bind_weights(const std::optional<VisionConfig>& vision) {
  const ModelConfig& c = config_;
  MLXS_ASSIGN_OR_RETURN(auto at_load, load_quantization(options_.quantization, c.quant));
  Binder bind(*store_, c.quant, backend_, at_load, quantized_, std::move(options_.progress));
  options_.progress = nullptr;  // the caller's display lives only as long as load()
  const std::int64_t H = c.hidden;
  const std::int64_t hd = c.head_dim;
  const std::int64_t q_rows = c.heads * hd;
  const std::int64_t kv_rows = c.kv_heads * hd;

  for (const auto& [text, head] : {std::pair<const char*, const char*>{"model.", "lm_head"},
                                   {"language_model.model.", "language_model.lm_head"},
                                   {"model.language_model.", "lm_head"}}) {
    if (store_->contains(std::string(text) + "embed_tokens.weight")) {
      text_prefix_ = text;
      head_name_ = head;
    }
  }
  // Under tensor parallelism the rank's vocabulary rows (ShardPlan).
  MLXS_ASSIGN_OR_RETURN(embed_, bind.linear(text_prefix_ + "embed_tokens", vocab_rows_, H, false));
  MLXS_ASSIGN_OR_RETURN(final_norm_, bind.vector(text_prefix_ + "norm.weight", H));
  if (c.tie_embeddings) {
    lm_head_ = embed_;  // a quantized table multiplies as a linear too
  } else {
    MLXS_ASSIGN_OR_RETURN(lm_head_, bind.linear(head_name_, vocab_rows_, H, false));
  }

  const int rope_full = backend_.register_rope(compute_rope(c.rope_full, hd, c.max_position));
  const int rope_sliding = backend_.register_rope(compute_rope(c.rope_sliding, hd, c.max_position));

  layers_.resize(static_cast<std::size_t>(c.layers));
  for (std::int64_t l = 0; l < c.layers; ++l) {
    LayerWeights& L = layers_[static_cast<std::size_t>(l)];
    const std::string p = text_prefix_ + fmt::format("layers.{}.", l);
    L.kind = c.layer_types[static_cast<std::size_t>(l)];
    const bool sliding = L.kind == LayerKind::kSliding;
    L.rope_id = sliding ? rope_sliding : rope_full;
    L.attention = {static_cast<int>(c.heads),
                   static_cast<int>(c.kv_heads),
                   static_cast<int>(hd),
                   c.attention_scale(),
                   static_cast<float>(c.attn_softcap),
                   sliding ? static_cast<int>(c.sliding_window) : 0};

    MLXS_ASSIGN_OR_RETURN(L.attn_norm, bind.vector(p + "input_layernorm.weight", H));
    if (traits_.sandwich_norms) {
      MLXS_ASSIGN_OR_RETURN(L.post_attn_norm,
                            bind.vector(p + "post_attention_layernorm.weight", H));
      MLXS_ASSIGN_OR_RETURN(L.ffn_norm, bind.vector(p + "pre_feedforward_layernorm.weight", H));
      MLXS_ASSIGN_OR_RETURN(L.post_ffn_norm,
                            bind.vector(p + "post_feedforward_layernorm.weight", H));
    } else {
      MLXS_ASSIGN_OR_RETURN(L.ffn_norm, bind.vector(p + "post_attention_layernorm.weight", H));
    }
    if (traits_.qk_norm) {
      MLXS_ASSIGN_OR_RETURN(L.q_norm, bind.vector(p + "self_attn.q_norm.weight", hd));
      MLXS_ASSIGN_OR_RETURN(L.k_norm, bind.vector(p + "self_attn.k_norm.weight", hd));
    }
    if (traits_.fused_qkv) {
      MLXS_ASSIGN_OR_RETURN(auto parts,
                            bind.fused(p + "self_attn.qkv_proj", {q_rows, kv_rows, kv_rows}, H));
      L.q = parts[0];
      L.k = parts[1];
      L.v = parts[2];
    } else {
      MLXS_ASSIGN_OR_RETURN(auto parts, bind.stacked({{p + "self_attn.q_proj", q_rows},
                                                      {p + "self_attn.k_proj", kv_rows},
                                                      {p + "self_attn.v_proj", kv_rows}},
                                                     H, c.attention_bias));
      L.q = parts[0];
      L.k = parts[1];
      L.v = parts[2];
    }
    MLXS_ASSIGN_OR_RETURN(L.o, bind.linear(p + "self_attn.o_proj", H, q_rows,
                                           traits_.o_proj_bias_follows_config && c.attention_bias));
    L.moe = c.is_moe_layer(l);
    if (L.moe) {
      const std::int64_t F = c.moe_intermediate;
      MLXS_ASSIGN_OR_RETURN(L.router, bind.linear(p + "mlp.gate", c.num_experts, H, false));
      for (std::int64_t e = 0; e < c.num_experts; ++e) {
        const std::string ep = p + fmt::format("mlp.experts.{}.", e);
        MLXS_ASSIGN_OR_RETURN(auto g, bind.linear(ep + "gate_proj", F, H, false));
        MLXS_ASSIGN_OR_RETURN(auto u, bind.linear(ep + "up_proj", F, H, false));
        MLXS_ASSIGN_OR_RETURN(auto d, bind.linear(ep + "down_proj", H, F, false));
        L.expert_gate.push_back(g);
        L.expert_up.push_back(u);
        L.expert_down.push_back(d);
      }
    } else if (traits_.fused_gate_up) {
      const std::int64_t F = c.intermediate;
      MLXS_ASSIGN_OR_RETURN(auto parts, bind.fused(p + "mlp.gate_up_proj", {F, F}, H));
      L.gate = parts[0];
      L.up = parts[1];
      MLXS_ASSIGN_OR_RETURN(L.down, bind.linear(p + "mlp.down_proj", H, F, c.mlp_bias));
    } else {
      const std::int64_t F = c.intermediate;
      MLXS_ASSIGN_OR_RETURN(L.gate, bind.linear(p + "mlp.gate_proj", F, H, c.mlp_bias));
      MLXS_ASSIGN_OR_RETURN(L.up, bind.linear(p + "mlp.up_proj", F, H, c.mlp_bias));
      MLXS_ASSIGN_OR_RETURN(L.down, bind.linear(p + "mlp.down_proj", H, F, c.mlp_bias));
    }
  }
  // Before the unused-tensor report below, which they would otherwise join.
  MLXS_ASSIGN_OR_RETURN(kv_scales_,
                        read_kv_scales(bind, text_prefix_, c.layers, c.kv_heads,
                                       comm_ ? comm_->rank() : 0, comm_ ? comm_->world_size() : 1));
  if (vision) {
    MLXS_ASSIGN_OR_RETURN(
        vision_, VisionTower::create(*vision, H, bind, backend_, options_.max_image_patches,
                                     options_.max_batch_tokens));
  }
  weight_bytes_ = bind.held_bytes() + (vision_ ? vision_->workspace_bytes() : 0);
  const auto unused = bind.unused();
  if (!unused.empty()) {
    core::log_warn("model_unused_tensors", {{"count", unused.size()}, {"first", unused.front()}});
  }
  return Status::ok();
}

Status Model::plan_memory() {
  const ModelConfig& c = config_;
  const std::int64_t T = options_.max_batch_tokens;
  const std::int64_t R = options_.max_logit_rows;
  const std::int64_t H = c.hidden;
  const std::int64_t QD = c.heads * c.head_dim;
  const std::int64_t KD = c.kv_heads * c.head_dim;
  const std::int64_t F = c.intermediate;
  // x, h, t: [T, H]; q, attn: [T, QD]; k, v: [T, KD]; gate, up: [T, F];
  // rows: [R, H]; logits: [R, vocab].
  // Sharded: + logits_local [R, vocab_rows].
  const std::int64_t floats = 3 * T * H + 2 * T * QD + 2 * T * KD + 2 * T * F + R * H +
                              R * c.vocab + (comm_ ? R * vocab_rows_ : 0);
  MLXS_ASSIGN_OR_RETURN(workspace_,
                        backend_.allocate(static_cast<std::size_t>(floats) * sizeof(float)));
  auto* p = static_cast<float*>(workspace_->data());
  auto take = [&p](std::int64_t rows, std::int64_t cols) {
    Tensor t(p, DType::kF32, {rows, cols}, tensor::Device::kCpu);
    p += rows * cols;
    return t;
  };
  x_ = take(T, H);
  h_ = take(T, H);
  t_ = take(T, H);
  q_ = take(T, QD);
  attn_ = take(T, QD);
  k_ = take(T, KD);
  v_ = take(T, KD);
  gate_ = take(T, F);
  up_ = take(T, F);
  rows_ = take(R, H);
  logits_ = take(R, c.vocab);
  if (comm_) logits_local_ = take(R, vocab_rows_);
  for (Tensor* t :
       {&x_, &h_, &t_, &q_, &attn_, &k_, &v_, &gate_, &up_, &rows_, &logits_, &logits_local_}) {
    t->device = backend_.device();
  }

  tensor::StepCapacity cap;
  cap.max_tokens = static_cast<int>(T);
  cap.max_seqs = options_.max_seqs;
  cap.max_context = max_context_;
  cap.max_logit_rows = static_cast<int>(R);
  cap.max_linear_in = std::max({H, QD, F, c.moe_intermediate});
  cap.max_linear_out = std::max({c.vocab, F, QD + 2 * KD});
  cap.max_stacked_out = backend_.fuses_adjacent_linears() ? QD + 2 * KD : 0;
  if (vision_) {
    cap.max_linear_in = std::max(cap.max_linear_in, vision_->max_linear_in());
    cap.max_linear_out = std::max(cap.max_linear_out, vision_->max_linear_out());
  }
  cap.max_heads = static_cast<int>(c.heads);
  cap.max_head_dim = static_cast<int>(c.head_dim);
  if (c.num_experts > 0) {
    cap.moe_experts = static_cast<int>(c.num_experts);
    cap.moe_top_k = static_cast<int>(c.experts_per_token);
    cap.moe_ffn = c.moe_intermediate;
  }
  return backend_.plan_step(cap);
}

tensor::KvCacheShape Model::kv_shape(int blocks, int block_size) const {
  tensor::KvCacheShape shape;
  shape.layers = static_cast<int>(config_.layers);
  shape.blocks = blocks;
  shape.block_size = block_size;
  shape.kv_heads = static_cast<int>(config_.kv_heads);
  shape.head_dim = static_cast<int>(config_.head_dim);
  shape.dtype = backend_.kv_dtype();
  shape.scales = kv_scales_;
  return shape;
}

Status Model::validate(const tensor::StepBatch& batch, const tensor::KvStorage& kv) const {
  const auto T = batch.tokens.size();
  auto bad = [](const std::string& what) { return Status(ErrorCode::kInvalidParams, what); };
  if (T == 0) return bad("empty step");
  if (T > static_cast<std::size_t>(options_.max_batch_tokens))
    return bad("step has too many tokens");
  if (batch.positions.size() != T) return bad("positions and tokens differ in length");
  if (batch.seqs.empty() || batch.seqs.size() > static_cast<std::size_t>(options_.max_seqs)) {
    return bad("step has no sequences or too many");
  }
  if (batch.logit_rows.size() > static_cast<std::size_t>(options_.max_logit_rows)) {
    return bad("step asks for too many logit rows");
  }
  // A placeholder (-1 - r) names row r of the previous step's ids, on a
  // backend that resolves them on the device.
  const std::int64_t lowest = backend_.resolves_placeholder_tokens()
                                  ? -static_cast<std::int64_t>(options_.max_logit_rows)
                                  : 0;
  for (auto id : batch.tokens) {
    if (id < lowest || id >= config_.vocab) {
      return bad(fmt::format("token id {} is out of range", id));
    }
  }
  for (auto r : batch.logit_rows) {
    if (r < 0 || static_cast<std::size_t>(r) >= T) return bad("logit row out of range");
  }
  const auto& shape = kv.shape();
  if (shape.layers != config_.layers || shape.kv_heads != config_.kv_heads ||
      shape.head_dim != config_.head_dim) {
    return bad("KV cache shape does not match the model");
  }
  std::int32_t next = 0;
  for (const auto& s : batch.seqs) {
    if (s.token_begin != next || s.token_count <= 0 || s.context_len < s.token_count ||
        s.context_len > max_context_) {
      return bad("sequence slices are inconsistent or exceed the context limit");
    }
    if (static_cast<std::int64_t>(s.num_blocks) * shape.block_size < s.context_len) {
      return bad("block table does not cover the context");
    }
    for (std::int32_t b = 0; b < s.num_blocks; ++b) {
      if (s.block_table[b] < 0 || s.block_table[b] >= shape.blocks)
        return bad("block id out of range");
    }
    for (std::int32_t i = 0; i < s.token_count; ++i) {
      const auto pos = batch.positions[static_cast<std::size_t>(s.token_begin + i)];
      if (pos != s.context_len - s.token_count + i) return bad("positions are not contiguous");
    }
    next += s.token_count;
  }
  if (static_cast<std::size_t>(next) != T) return bad("sequence slices do not cover the step");
  return validate_multimodal(batch);
}

Status Model::validate_multimodal(const tensor::StepBatch& batch) const {
  const auto T = batch.tokens.size();
  auto bad = [](const std::string& what) { return Status(ErrorCode::kInvalidParams, what); };
  if (!batch.rope_positions.empty() && batch.rope_positions.size() != tensor::kRopeAxes * T) {
    return bad("rope positions must hold one position per axis and row");
  }
  for (const auto& e : batch.embeds) {
    if (e.data == nullptr || e.rows <= 0 || e.row < 0 ||
        static_cast<std::size_t>(e.row) + static_cast<std::size_t>(e.rows) > T) {
      return bad("image rows fall outside the step");
    }
  }
  if (batch.attend_until.empty()) return Status::ok();
  if (batch.attend_until.size() != T) return bad("attend_until must hold one entry per row");
  for (const auto& s : batch.seqs) {
    for (std::int32_t i = 0; i < s.token_count; ++i) {
      const auto t = static_cast<std::size_t>(s.token_begin + i);
      const std::int32_t until = batch.attend_until[t];
      if (until <= batch.positions[t] || until > s.context_len) {
        return bad("attend_until must lie past the row and within its sequence's step");
      }
    }
  }
  return Status::ok();
}

// A sublayer's output t joins the residual stream x and h = norm(x): under
// tensor parallelism t is this rank's partial sum, and without sandwich
// norms the backend sums the ranks' parts and normalises in one collective.
Status Model::residual_norm(Tensor t, const Tensor& post_norm, Tensor x, const Tensor& next_norm,
                            Tensor h) {
  tensor::Backend& be = backend_;
  const float eps = static_cast<float>(config_.rms_eps);
  const float off = traits_.norm_offset;
  if (comm_ != nullptr && !traits_.sandwich_norms) {
    return be.all_reduce_add_rms_norm(*comm_, t, x, next_norm, eps, off, h);
  }
  if (comm_ != nullptr) MLXS_RETURN_IF_ERROR(comm_->all_reduce_sum(t));
  if (traits_.sandwich_norms) be.rms_norm(t, post_norm, eps, off, t);
  be.add_rms_norm(x, t, next_norm, eps, off, h);
  return Status::ok();
}

Status Model::attend(Tensor q, Tensor k, const Tensor& v, tensor::KvStorage& kv, std::size_t layer,
                     Tensor attn) {
  const LayerWeights& L = layers_[layer];
  const int head_dim = static_cast<int>(config_.head_dim);
  const int l = static_cast<int>(layer);
  if (calibration_ == nullptr) {
    backend_.rope_cache_attention(q, k, v, head_dim, L.rope_id, kv, l, L.attention, attn);
    return Status::ok();
  }
  // Calibration: the unfused ops, K read back once rotated (as the cache
  // holds it) and V as it is.
  backend_.rope(q, head_dim, L.rope_id);
  backend_.rope(k, head_dim, L.rope_id);
  const std::int64_t heads = config_.kv_heads;
  for (int which = 0; which < 2; ++which) {
    const Tensor& t = which == 0 ? k : v;
    std::vector<float>& host = calibration_->observed;
    host.resize(static_cast<std::size_t>(t.numel()));
    MLXS_RETURN_IF_ERROR(backend_.copy_to_host(t, host.data()));
    const auto at = (static_cast<std::size_t>(layer) * 2 + static_cast<std::size_t>(which)) *
                    static_cast<std::size_t>(heads);
    fold_head_absmax(
        host, heads, config_.head_dim,
        std::span<float>(calibration_->absmax).subspan(at, static_cast<std::size_t>(heads)));
  }
  backend_.kv_write(kv, l, k, v);
  backend_.attention(kv, l, q, L.attention, attn);
  return Status::ok();
}

bool Model::kv_calibration_due() const {
  return backend_.kv_dtype() == tensor::DType::kF8E4M3 && kv_scales_.empty() &&
         options_.kv_calibration_tokens > 0;
}

Status Model::calibrate_kv_scales(int tokens) {
  const ModelConfig& c = config_;
  const int T = std::min({tokens, options_.max_batch_tokens, max_context_});
  if (T <= 0) return Status(ErrorCode::kInvalidParams, "KV calibration needs at least one token");
  constexpr int kBlock = 16;
  const int blocks = (T + kBlock - 1) / kBlock;
  tensor::KvCacheShape shape = kv_shape(blocks, kBlock);
  shape.dtype =
      backend_.kv_dtype() == tensor::DType::kF32 ? tensor::DType::kF32 : tensor::DType::kBF16;
  shape.scales.clear();
  MLXS_ASSIGN_OR_RETURN(auto cache, backend_.create_kv_storage(shape));
  // Ids spread over the whole vocabulary at positions 0 .. T-1 of one
  // sequence; no logits.
  const std::vector<std::int32_t> ids = calibration_token_ids(T, c.vocab);
  std::vector<std::int32_t> positions(ids.size()), table(static_cast<std::size_t>(blocks));
  std::iota(positions.begin(), positions.end(), 0);
  std::iota(table.begin(), table.end(), 0);
  const tensor::SeqSlice seq{0, T, T, table.data(), blocks};
  tensor::StepBatch batch;
  batch.tokens = ids;
  batch.positions = positions;
  batch.seqs = std::span<const tensor::SeqSlice>(&seq, 1);
  KvCalibration seen;
  seen.absmax.assign(static_cast<std::size_t>(c.layers * 2 * c.kv_heads), 0.0f);
  calibration_ = &seen;
  auto out = forward(batch, *cache);
  calibration_ = nullptr;
  MLXS_RETURN_IF_ERROR(out.status());
  MLXS_RETURN_IF_ERROR(backend_.synchronize());
  kv_scales_ = kv_scales_from_absmax(seen.absmax);
  kv_scales_calibrated_ = true;
  const auto [lo, hi] = std::minmax_element(kv_scales_.begin(), kv_scales_.end());
  core::log_info("kv_scales_calibrated", {{"tokens", T}, {"min_scale", *lo}, {"max_scale", *hi}});
  return Status::ok();
}

Result<Tensor> Model::forward(const tensor::StepBatch& batch, tensor::KvStorage& kv) {
  MLXS_RETURN_IF_ERROR(validate(batch, kv));
  const ModelConfig& c = config_;
  tensor::Backend& be = backend_;
  const auto T = static_cast<std::int64_t>(batch.tokens.size());
  const auto R = static_cast<std::int64_t>(batch.logit_rows.size());
  const float eps = static_cast<float>(c.rms_eps);
  const float off = traits_.norm_offset;
  const std::int64_t H = c.hidden;
  auto rows = [T](const Tensor& t) { return t.rows_view(0, T); };
  Tensor x = rows(x_), h = rows(h_), t = rows(t_), q = rows(q_), k = rows(k_), v = rows(v_),
         attn = rows(attn_), gate = rows(gate_), up = rows(up_);

  tensor::StepBatch step = batch;
  step.kv = &kv;
  be.begin_step(step);
  if (comm_ != nullptr) {
    // The overlap mode: a placeholder (-1 - r) names row r of the last ids
    // rank 0 sampled; the other ranks never sample, so they get rank 0's.
    std::int32_t id_rows = 0;
    for (auto id : batch.tokens) id_rows = std::max(id_rows, -id);
    if (id_rows > 0) MLXS_RETURN_IF_ERROR(be.share_sampled_ids(*comm_, id_rows));
  }
  const float embed_scale = traits_.scale_embeddings ? std::sqrt(static_cast<float>(H)) : 1.0f;
  be.embed(embed_, embed_scale, x, vocab_begin_);
  // Vocab-parallel embedding: each row came from the one rank holding it.
  if (comm_ != nullptr) MLXS_RETURN_IF_ERROR(comm_->all_reduce_sum(x));
  // Image rows replace their placeholders' embeddings, after the scaling
  // (Gemma 3 scales text embeddings only).
  for (const auto& e : batch.embeds) {
    MLXS_RETURN_IF_ERROR(be.upload(e.data, x.rows_view(e.row, e.row + e.rows)));
  }
  be.rms_norm(x, layers_[0].attn_norm, eps, off, h);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& L = layers_[l];
    const tensor::LinearOut qkv[3] = {{&L.q, q}, {&L.k, k}, {&L.v, v}};
    be.linear(h, qkv);
    if (traits_.qk_norm) {
      be.head_rms_norm(q, static_cast<int>(c.head_dim), L.q_norm, eps, off);
      be.head_rms_norm(k, static_cast<int>(c.head_dim), L.k_norm, eps, off);
    }
    MLXS_RETURN_IF_ERROR(attend(q, k, v, kv, l, attn));
    const tensor::LinearOut o{&L.o, t};
    be.linear(attn, std::span<const tensor::LinearOut>(&o, 1));
    // Row-parallel o_proj: each rank holds a partial sum of the output.
    MLXS_RETURN_IF_ERROR(residual_norm(t, L.post_attn_norm, x, L.ffn_norm, h));

    if (L.moe) {
      const tensor::MoeSpec spec{&L.router,
                                 L.expert_gate,
                                 L.expert_up,
                                 L.expert_down,
                                 static_cast<int>(c.experts_per_token),
                                 c.norm_topk_prob,
                                 c.activation};
      be.moe(h, spec, t);
    } else {
      be.gated_mlp(h, L.gate, L.up, c.activation, gate, up, tensor::LinearOut{&L.down, t});
    }
    const Tensor& next_norm = l + 1 < layers_.size() ? layers_[l + 1].attn_norm : final_norm_;
    MLXS_RETURN_IF_ERROR(residual_norm(t, L.post_ffn_norm, x, next_norm, h));  // row-parallel down
  }
  if (R == 0) {
    be.end_step();
    return Tensor(logits_.data, DType::kF32, {0, c.vocab}, be.device());
  }
  Tensor selected = rows_.rows_view(0, R);
  be.gather_logit_rows(h, selected);
  Tensor logits = logits_.rows_view(0, R);
  // Vocab-parallel head: this rank's block of columns, then the gather.
  const Tensor block = comm_ ? logits_local_.rows_view(0, R) : logits;
  const tensor::LinearOut head{&lm_head_, block};
  be.linear(selected, std::span<const tensor::LinearOut>(&head, 1));
  if (c.final_softcap > 0) be.softcap(block, static_cast<float>(c.final_softcap));
  if (comm_) MLXS_RETURN_IF_ERROR(comm_->all_gather_columns(block, logits));
  be.end_step();
  return logits;
}

core::Result<std::int64_t> Model::image_tokens(const ImageInput& image) const {
  if (!vision_) return Status(ErrorCode::kInvalidParams, "this model does not take images");
  return vision_->tokens(image);
}

Status Model::encode_image(const ImageInput& image, std::span<float> out) {
  if (!vision_) return Status(ErrorCode::kInvalidParams, "this model does not take images");
  return vision_->encode(image, out);
}

std::size_t Model::weight_bytes_per_token() const {
  std::size_t total = 0;
  for (const auto& [name, e] : store_->tensors()) {
    std::size_t bytes = e.nbytes;
    if (auto q = quantized_.find(name); q != quantized_.end()) {
      bytes = q->second->codes.size() + 2 * (q->second->scales.size() + q->second->biases.size());
    }
    // MoE experts: only the routed ones are read per token.
    if (name.find(".mlp.experts.") != std::string::npos && config_.num_experts > 0) {
      total += bytes * static_cast<std::size_t>(config_.experts_per_token) /
               static_cast<std::size_t>(config_.num_experts);
      continue;
    }
    if (is_vision_tensor(name)) continue;  // read once per image
    // An untied input embedding (and its scales) is read one row per token
    // (this rank's rows of the vocabulary; a tied one is read whole as the
    // output layer).
    if (name.rfind(text_prefix_ + "embed_tokens.", 0) == 0 && !config_.tie_embeddings) {
      total += bytes / static_cast<std::size_t>(vocab_rows_);
      continue;
    }
    total += bytes;
  }
  return total;
}

LoadLine describe_load(const LoadProgress& p) {
  const bool mib = p.bytes_total >= (std::uint64_t{64} << 20);
  const int shift = mib ? 20 : 10;
  LoadLine line;
  line.what = fmt::format("{}/{} tensors, {}", p.tensors, p.tensors_total, mib ? "MiB" : "KiB");
  line.done = static_cast<long>(p.bytes >> shift);
  line.total = static_cast<long>(p.bytes_total >> shift);
  return line;
}

std::string Model::quantization_summary() const {
  const QuantConfig& q = config_.quant;
  if (q.method == QuantMethod::kMlxAffine) {
    return fmt::format("{} {}-bit", quant_method_name(q.method), q.affine.bits);
  }
  if (q.quantized()) return std::string(quant_method_name(q.method));
  if (!quantized_.empty()) return options_.quantization + " at load";
  return "none";
}

std::size_t Model::parameter_count() const {
  std::size_t total = 0;
  const bool mlx = config_.quant.method == QuantMethod::kMlxAffine;
  for (const auto& [name, e] : store_->tensors()) {
    const std::size_t elements = e.nbytes / tensor::dtype_size(e.dtype);
    if (mlx && e.dtype == DType::kU32) {
      // Packed codes: count the weights they hold, as mlx-lm does (scales
      // and biases are not parameters of the source model).
      total += elements * 32 / static_cast<std::size_t>(config_.quant.affine.bits);
      continue;
    }
    const bool group_param =
        name.size() > 7 && (name.ends_with(".scales") || name.ends_with(".biases"));
    if (mlx && group_param) continue;
    total += elements;
  }
  return total;
}

}  // namespace mlxs::model
