#include "model/vision_tower.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "model/binder.h"
#include "model/load_error.h"

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Result;
using core::Status;
using tensor::DType;
using tensor::Tensor;
using tensor::Weight;

Status bad_image(const std::string& what) {
  return Status(ErrorCode::kInvalidParams, what);
}

// The first prefix under which `probe` exists, or a ModelLoadError listing
// where it was looked for.
Result<std::string> find_prefix(const Binder& bind, const std::vector<std::string>& prefixes,
                                const std::string& probe) {
  for (const auto& p : prefixes) {
    if (bind.has(p + probe)) return p;
  }
  return load_error(
      fmt::format("vision weights not found: no '{}' under {}", probe, fmt::join(prefixes, ", ")));
}

}  // namespace

VisionTower::VisionTower(const VisionConfig& config, std::int64_t text_hidden,
                         tensor::Backend& backend, tensor::EncoderOps& ops, std::int64_t row_chunk)
    : cfg_(config), text_hidden_(text_hidden), be_(backend), ops_(ops), row_chunk_(row_chunk) {}

VisionTower::~VisionTower() = default;

Result<std::unique_ptr<VisionTower>> VisionTower::create(const VisionConfig& config,
                                                         std::int64_t text_hidden, Binder& bind,
                                                         tensor::Backend& backend,
                                                         std::int64_t max_patches,
                                                         std::int64_t row_chunk) {
  tensor::EncoderOps* ops = backend.encoder();
  if (ops == nullptr) {
    return load_error(
        fmt::format("vision models do not run on the {} backend yet", backend.describe()));
  }
  std::unique_ptr<VisionTower> tower(
      new VisionTower(config, text_hidden, backend, *ops, row_chunk));
  MLXS_RETURN_IF_ERROR(tower->bind_weights(bind));
  const bool qwen = config.projector == ProjectorKind::kQwenMerger;
  std::int64_t rows = config.fixed_patches() + (config.traits.class_token ? 1 : 0);
  if (qwen) {
    // Whole merge units, and whole windows once padded (Qwen2.5-VL).
    const std::int64_t unit = config.merge * config.merge;
    rows = std::max<std::int64_t>(unit, max_patches / unit * unit);
  }
  MLXS_RETURN_IF_ERROR(tower->plan(rows));
  return tower;
}

Status VisionTower::bind_weights(Binder& bind) {
  const VisionConfig& c = cfg_;
  const VisionTraits& tr = c.traits;
  const std::int64_t D = c.hidden;
  const std::int64_t I = c.intermediate;
  const bool qwen = c.projector == ProjectorKind::kQwenMerger;
  std::string tower;
  if (qwen) {
    MLXS_ASSIGN_OR_RETURN(
        tower, find_prefix(bind, {"visual.", "model.visual."}, "patch_embed.proj.weight"));
  } else {
    MLXS_ASSIGN_OR_RETURN(
        tower, find_prefix(bind,
                           {"vision_tower.", "vision_tower.vision_model.", "model.vision_tower.",
                            "model.vision_tower.vision_model."},
                           "embeddings.patch_embedding.weight"));
  }
  auto vec = [&](const std::string& name, std::int64_t n) { return bind.vector(name, n); };

  // Patch embedding: a convolution with stride = kernel is a linear over
  // each patch's values in (channel, [time,] row, column) order.
  if (qwen) {
    MLXS_ASSIGN_OR_RETURN(patch_.w,
                          bind.shaped(tower + "patch_embed.proj.weight",
                                      {D, c.channels, c.temporal_patch, c.patch, c.patch}, false));
  } else {
    MLXS_ASSIGN_OR_RETURN(patch_.w, bind.shaped(tower + "embeddings.patch_embedding.weight",
                                                {D, c.channels, c.patch, c.patch}, false));
    if (tr.patch_bias) {
      MLXS_ASSIGN_OR_RETURN(patch_.bias, vec(tower + "embeddings.patch_embedding.bias", D));
    }
  }
  patch_.w = patch_.w.as_matrix(D, c.patch_values());
  if (tr.class_token) {
    MLXS_ASSIGN_OR_RETURN(class_embedding_, vec(tower + "embeddings.class_embedding", D));
  }
  if (tr.learned_positions) {
    const std::int64_t n = c.fixed_patches() + (tr.class_token ? 1 : 0);
    MLXS_ASSIGN_OR_RETURN(
        positions_, bind.shaped(tower + "embeddings.position_embedding.weight", {n, D}, true));
  }
  if (tr.pre_norm) {
    // CLIP's own spelling.
    MLXS_ASSIGN_OR_RETURN(pre_norm_w_, vec(tower + "pre_layrnorm.weight", D));
    MLXS_ASSIGN_OR_RETURN(pre_norm_b_, vec(tower + "pre_layrnorm.bias", D));
  }
  if (tr.post_norm) {
    MLXS_ASSIGN_OR_RETURN(post_norm_w_, vec(tower + "post_layernorm.weight", D));
    MLXS_ASSIGN_OR_RETURN(post_norm_b_, vec(tower + "post_layernorm.bias", D));
  }

  blocks_.resize(static_cast<std::size_t>(c.feature_layers));
  for (std::int64_t l = 0; l < c.feature_layers; ++l) {
    Block& b = blocks_[static_cast<std::size_t>(l)];
    if (qwen) {
      const std::string p = tower + fmt::format("blocks.{}.", l);
      MLXS_ASSIGN_OR_RETURN(b.norm1_w, vec(p + "norm1.weight", D));
      MLXS_ASSIGN_OR_RETURN(b.norm2_w, vec(p + "norm2.weight", D));
      if (!tr.rms_norm) {
        MLXS_ASSIGN_OR_RETURN(b.norm1_b, vec(p + "norm1.bias", D));
        MLXS_ASSIGN_OR_RETURN(b.norm2_b, vec(p + "norm2.bias", D));
      }
      MLXS_ASSIGN_OR_RETURN(auto qkv, bind.fused(p + "attn.qkv", {D, D, D}, D));
      b.q = qkv[0];
      b.k = qkv[1];
      b.v = qkv[2];
      MLXS_ASSIGN_OR_RETURN(auto bias, vec(p + "attn.qkv.bias", 3 * D));
      const Tensor whole = bias.as_matrix(3, D);
      b.q.bias = whole.rows_view(0, 1).as_matrix(1, D);
      b.k.bias = whole.rows_view(1, 2).as_matrix(1, D);
      b.v.bias = whole.rows_view(2, 3).as_matrix(1, D);
      MLXS_ASSIGN_OR_RETURN(b.o, bind.linear(p + "attn.proj", D, D, true));
      if (tr.gated_mlp) {
        MLXS_ASSIGN_OR_RETURN(b.gate, bind.linear(p + "mlp.gate_proj", I, D, true));
        MLXS_ASSIGN_OR_RETURN(b.up, bind.linear(p + "mlp.up_proj", I, D, true));
        MLXS_ASSIGN_OR_RETURN(b.down, bind.linear(p + "mlp.down_proj", D, I, true));
      } else {
        MLXS_ASSIGN_OR_RETURN(b.fc1, bind.linear(p + "mlp.fc1", I, D, true));
        MLXS_ASSIGN_OR_RETURN(b.fc2, bind.linear(p + "mlp.fc2", D, I, true));
      }
    } else {
      const std::string p = tower + fmt::format("encoder.layers.{}.", l);
      MLXS_ASSIGN_OR_RETURN(b.norm1_w, vec(p + "layer_norm1.weight", D));
      MLXS_ASSIGN_OR_RETURN(b.norm1_b, vec(p + "layer_norm1.bias", D));
      MLXS_ASSIGN_OR_RETURN(b.norm2_w, vec(p + "layer_norm2.weight", D));
      MLXS_ASSIGN_OR_RETURN(b.norm2_b, vec(p + "layer_norm2.bias", D));
      MLXS_ASSIGN_OR_RETURN(b.q, bind.linear(p + "self_attn.q_proj", D, D, true));
      MLXS_ASSIGN_OR_RETURN(b.k, bind.linear(p + "self_attn.k_proj", D, D, true));
      MLXS_ASSIGN_OR_RETURN(b.v, bind.linear(p + "self_attn.v_proj", D, D, true));
      MLXS_ASSIGN_OR_RETURN(b.o, bind.linear(p + "self_attn.out_proj", D, D, true));
      MLXS_ASSIGN_OR_RETURN(b.fc1, bind.linear(p + "mlp.fc1", I, D, true));
      MLXS_ASSIGN_OR_RETURN(b.fc2, bind.linear(p + "mlp.fc2", D, I, true));
    }
  }

  const std::int64_t T = text_hidden_;
  max_in_ = std::max({c.patch_values(), D, I});
  max_out_ = std::max({D, I});
  switch (c.projector) {
    case ProjectorKind::kLlavaMlp: {
      MLXS_ASSIGN_OR_RETURN(
          auto p, find_prefix(bind, {"multi_modal_projector.", "model.multi_modal_projector."},
                              "linear_1.weight"));
      MLXS_ASSIGN_OR_RETURN(proj1_, bind.linear(p + "linear_1", T, D, c.projector_bias));
      MLXS_ASSIGN_OR_RETURN(proj2_, bind.linear(p + "linear_2", T, T, c.projector_bias));
      max_in_ = std::max(max_in_, T);
      max_out_ = std::max(max_out_, T);
      break;
    }
    case ProjectorKind::kGemma3Pool: {
      MLXS_ASSIGN_OR_RETURN(
          auto p, find_prefix(bind, {"multi_modal_projector.", "model.multi_modal_projector."},
                              "mm_input_projection_weight"));
      MLXS_ASSIGN_OR_RETURN(merge_norm_w_, vec(p + "mm_soft_emb_norm.weight", D));
      // Stored [vision, text] and used as x @ W: transposed once here into
      // the [out, in] layout every linear reads.
      MLXS_ASSIGN_OR_RETURN(auto w, bind.host_f32(p + "mm_input_projection_weight", {D, T}));
      std::vector<float> wt(w.size());
      for (std::int64_t i = 0; i < D; ++i) {
        for (std::int64_t j = 0; j < T; ++j)
          wt[static_cast<std::size_t>(j * D + i)] = w[static_cast<std::size_t>(i * T + j)];
      }
      MLXS_ASSIGN_OR_RETURN(proj1_.w,
                            be_.import_tensor(Tensor(wt.data(), DType::kF32, {T, D}), true));
      bind.add_held(wt.size() * sizeof(float));
      max_in_ = std::max(max_in_, D);
      max_out_ = std::max(max_out_, T);
      break;
    }
    case ProjectorKind::kQwenMerger: {
      const std::int64_t M = D * c.merge * c.merge;
      MLXS_ASSIGN_OR_RETURN(merge_norm_w_, vec(tower + "merger.ln_q.weight", D));
      if (!tr.rms_norm) {
        MLXS_ASSIGN_OR_RETURN(merge_norm_b_, vec(tower + "merger.ln_q.bias", D));
      }
      MLXS_ASSIGN_OR_RETURN(proj1_, bind.linear(tower + "merger.mlp.0", M, M, true));
      MLXS_ASSIGN_OR_RETURN(proj2_, bind.linear(tower + "merger.mlp.2", T, M, true));
      max_in_ = std::max(max_in_, M);
      max_out_ = std::max({max_out_, M, T});
      break;
    }
  }
  return Status::ok();
}

Status VisionTower::plan(std::int64_t max_rows) {
  const VisionConfig& c = cfg_;
  max_rows_ = max_rows;
  const std::int64_t R = max_rows;
  const std::int64_t D = c.hidden;
  const std::int64_t I = c.intermediate;
  const std::int64_t P = std::max(D, text_hidden_);
  const std::int64_t hd = c.head_dim();
  const std::int64_t floats = R * c.patch_values() + 7 * R * D + 2 * R * I + R * hd + 2 * R * P;
  MLXS_ASSIGN_OR_RETURN(workspace_, be_.allocate(static_cast<std::size_t>(floats) * sizeof(float)));
  auto* p = static_cast<float*>(workspace_->data());
  auto take = [&](std::int64_t cols) {
    Tensor t(p, DType::kF32, {R, cols}, be_.device());
    p += R * cols;
    return t;
  };
  in_ = take(c.patch_values());
  x_ = take(D);
  h_ = take(D);
  q_ = take(D);
  k_ = take(D);
  v_ = take(D);
  attn_ = take(D);
  t_ = take(D);
  m_ = take(I);
  g_ = take(I);
  cs_ = take(hd);
  p1_ = take(P);
  p2_ = take(P);
  staged_.resize(static_cast<std::size_t>(R * c.patch_values()));
  rotary_.resize(static_cast<std::size_t>(R * hd));
  out_rows_.resize(static_cast<std::size_t>(R * text_hidden_));
  full_segments_.reserve(static_cast<std::size_t>(R + 1));
  window_segments_.reserve(static_cast<std::size_t>(R + 1));
  window_order_.reserve(static_cast<std::size_t>(R));
  return ops_.plan(R, static_cast<int>(c.heads));
}

std::size_t VisionTower::workspace_bytes() const {
  return workspace_ ? workspace_->size() : 0;
}

Result<std::int64_t> VisionTower::tokens(const ImageInput& image) const {
  const VisionConfig& c = cfg_;
  if (c.projector != ProjectorKind::kQwenMerger) {
    const auto want = static_cast<std::size_t>(c.channels * c.image_size * c.image_size);
    if (image.pixels.size() != want) {
      return bad_image(fmt::format("the image has {} values; this model takes {} x {} x {}",
                                   image.pixels.size(), c.channels, c.image_size, c.image_size));
    }
    if (c.projector == ProjectorKind::kGemma3Pool) return c.tokens_per_image;
    return c.fixed_patches() + (c.drop_class_token || !c.traits.class_token ? 0 : 1);
  }
  if (image.grid_t != 1 || image.grid_h <= 0 || image.grid_w <= 0 || image.grid_h % c.merge != 0 ||
      image.grid_w % c.merge != 0) {
    return bad_image(
        fmt::format("patch grid {} x {} x {} is not one frame of whole {} x {} merge "
                    "units",
                    image.grid_t, image.grid_h, image.grid_w, c.merge, c.merge));
  }
  const std::int64_t rows = image.grid_h * image.grid_w;
  if (rows > max_rows_) {
    return bad_image(
        fmt::format("the image has {} patches; this model takes at most {}", rows, max_rows_));
  }
  if (image.pixels.size() != static_cast<std::size_t>(rows * c.patch_values())) {
    return bad_image(fmt::format("the image has {} values; its {} patches need {}",
                                 image.pixels.size(), rows, rows * c.patch_values()));
  }
  return rows / (c.merge * c.merge);
}

void VisionTower::linear(const Tensor& x, const Weight& w, Tensor out) {
  for (std::int64_t r = 0; r < x.rows(); r += row_chunk_) {
    const std::int64_t e = std::min(x.rows(), r + row_chunk_);
    const tensor::LinearOut o{&w, out.rows_view(r, e)};
    be_.linear(x.rows_view(r, e), std::span<const tensor::LinearOut>(&o, 1));
  }
}

void VisionTower::linears(const Tensor& x, std::span<const tensor::LinearOut> outs) {
  tensor::LinearOut chunk[4];
  for (std::int64_t r = 0; r < x.rows(); r += row_chunk_) {
    const std::int64_t e = std::min(x.rows(), r + row_chunk_);
    for (std::size_t i = 0; i < outs.size(); ++i) {
      chunk[i] = {outs[i].weight, outs[i].out.rows_view(r, e)};
    }
    be_.linear(x.rows_view(r, e), std::span<const tensor::LinearOut>(chunk, outs.size()));
  }
}

void VisionTower::norm(const Tensor& x, const Tensor& w, const Tensor& b, Tensor out) {
  if (cfg_.traits.rms_norm) {
    be_.rms_norm(x, w, static_cast<float>(cfg_.eps), 0.0f, out);
  } else {
    ops_.layer_norm(x, w, b, static_cast<float>(cfg_.eps), out);
  }
}

// Patch rows of a fixed-size image: pixel_values [C, S, S] cut into p x p
// patches, row-major over the grid; values in (channel, row, column) order.
std::int64_t VisionTower::stage_fixed(const ImageInput& image) {
  const VisionConfig& c = cfg_;
  const std::int64_t side = c.image_size / c.patch;
  const std::int64_t S = c.image_size;
  float* dst = staged_.data();
  for (std::int64_t py = 0; py < side; ++py) {
    for (std::int64_t px = 0; px < side; ++px) {
      for (std::int64_t ch = 0; ch < c.channels; ++ch) {
        for (std::int64_t y = 0; y < c.patch; ++y) {
          const float* src = image.pixels.data() + (ch * S + py * c.patch + y) * S + px * c.patch;
          std::memcpy(dst, src, static_cast<std::size_t>(c.patch) * sizeof(float));
          dst += c.patch;
        }
      }
    }
  }
  full_segments_.assign(
      {0, static_cast<std::int32_t>(side * side + (c.traits.class_token ? 1 : 0))});
  return side * side;
}

// Qwen: patch rows as given (merge order), their 2-D rotary table, and for
// Qwen2.5-VL the reordering of merge units into windows.
std::int64_t VisionTower::stage_qwen(const ImageInput& image) {
  const VisionConfig& c = cfg_;
  const std::int64_t m = c.merge;
  const std::int64_t unit = m * m;
  const std::int64_t gh = image.grid_h / m;
  const std::int64_t gw = image.grid_w / m;
  const std::int64_t units = gh * gw;
  const std::int64_t rows = units * unit;
  const std::int64_t values = c.patch_values();

  window_order_.clear();
  window_segments_.assign({0});
  if (c.traits.window_attention) {
    // Windows of window x window merge units, the grid padded up to whole
    // windows (a full extra window when it divides, as transformers pads);
    // empty windows are skipped.
    const std::int64_t ws = c.window;
    const std::int64_t nwh = (gh + ws - gh % ws) / ws;
    const std::int64_t nww = (gw + ws - gw % ws) / ws;
    for (std::int64_t wy = 0; wy < nwh; ++wy) {
      for (std::int64_t wx = 0; wx < nww; ++wx) {
        std::int64_t count = 0;
        for (std::int64_t iy = 0; iy < ws; ++iy) {
          for (std::int64_t ix = 0; ix < ws; ++ix) {
            const std::int64_t y = wy * ws + iy;
            const std::int64_t x = wx * ws + ix;
            if (y < gh && x < gw) {
              window_order_.push_back(static_cast<std::int32_t>(y * gw + x));
              ++count;
            }
          }
        }
        if (count > 0) {
          window_segments_.push_back(window_segments_.back() +
                                     static_cast<std::int32_t>(count * unit));
        }
      }
    }
  } else {
    for (std::int64_t u = 0; u < units; ++u) window_order_.push_back(static_cast<std::int32_t>(u));
  }
  full_segments_.assign({0, static_cast<std::int32_t>(rows)});

  // Rotary: the first head_dim / 4 frequencies turn with the patch's row,
  // the next head_dim / 4 with its column (transformers' axial vision RoPE).
  const std::int64_t hd = c.head_dim();
  const std::int64_t quarter = hd / 4;
  const std::int64_t half = hd / 2;
  for (std::int64_t j = 0; j < units; ++j) {
    const std::int64_t u = window_order_[static_cast<std::size_t>(j)];
    const std::int64_t by = u / gw;
    const std::int64_t bx = u % gw;
    for (std::int64_t i = 0; i < unit; ++i) {
      const std::int64_t row = j * unit + i;
      std::memcpy(staged_.data() + row * values, image.pixels.data() + (u * unit + i) * values,
                  static_cast<std::size_t>(values) * sizeof(float));
      const std::int64_t patch_row = by * m + i / m;  // the patch's place in the grid
      const std::int64_t patch_col = bx * m + i % m;
      const double pos[2] = {static_cast<double>(patch_row), static_cast<double>(patch_col)};
      float* cs = rotary_.data() + row * hd;
      for (std::int64_t f = 0; f < half; ++f) {
        const std::int64_t k = f % quarter;
        const double angle =
            pos[f / quarter] /
            std::pow(c.rope_theta, static_cast<double>(2 * k) / static_cast<double>(half));
        cs[f] = static_cast<float>(std::cos(angle));
        cs[half + f] = static_cast<float>(std::sin(angle));
      }
    }
  }
  return rows;
}

void VisionTower::run_block(const Block& b, std::int64_t rows,
                            std::span<const std::int32_t> segments) {
  const VisionConfig& c = cfg_;
  auto R = [rows](const Tensor& t) { return t.rows_view(0, rows); };
  Tensor x = R(x_), h = R(h_), q = R(q_), k = R(k_), v = R(v_), attn = R(attn_), t = R(t_);
  const int hd = static_cast<int>(c.head_dim());
  norm(x, b.norm1_w, b.norm1_b, h);
  const tensor::LinearOut qkv[3] = {{&b.q, q}, {&b.k, k}, {&b.v, v}};
  linears(h, qkv);
  if (!c.traits.learned_positions) {
    ops_.rotary(q, hd, R(cs_));
    ops_.rotary(k, hd, R(cs_));
  }
  ops_.segment_attention(q, k, v, static_cast<int>(c.heads), hd,
                         1.0f / std::sqrt(static_cast<float>(hd)), segments, attn);
  linear(attn, b.o, t);
  be_.add(x, t);
  norm(x, b.norm2_w, b.norm2_b, h);
  if (c.traits.gated_mlp) {
    Tensor gate = R(m_), up = R(g_);
    const tensor::LinearOut gate_up[2] = {{&b.gate, gate}, {&b.up, up}};
    linears(h, gate_up);
    be_.gated_activation(gate, up, c.activation, gate);
    linear(gate, b.down, t);
  } else {
    Tensor mid = R(m_);
    linear(h, b.fc1, mid);
    ops_.activation(mid, c.activation);
    linear(mid, b.fc2, t);
  }
  be_.add(x, t);
}

std::int64_t VisionTower::project(std::int64_t rows) {
  const VisionConfig& c = cfg_;
  const std::int64_t D = c.hidden;
  const std::int64_t T = text_hidden_;
  switch (c.projector) {
    case ProjectorKind::kLlavaMlp: {
      const std::int64_t first = c.drop_class_token ? 1 : 0;
      const std::int64_t n = rows - first;
      Tensor feats = x_.rows_view(first, rows);
      Tensor mid(p1_.data, DType::kF32, {n, T}, be_.device());
      Tensor out(p2_.data, DType::kF32, {n, T}, be_.device());
      linear(feats, proj1_, mid);
      ops_.activation(mid, c.projector_activation);
      linear(mid, proj2_, out);
      return n;
    }
    case ProjectorKind::kGemma3Pool: {
      const std::int64_t side = c.image_size / c.patch;
      const auto pooled = static_cast<std::int64_t>(std::lround(std::sqrt(c.tokens_per_image)));
      const std::int64_t n = pooled * pooled;
      Tensor pool(p1_.data, DType::kF32, {n, D}, be_.device());
      Tensor out(p2_.data, DType::kF32, {n, T}, be_.device());
      ops_.avg_pool(x_.rows_view(0, rows), static_cast<int>(side), static_cast<int>(side),
                    static_cast<int>(side / pooled), pool);
      be_.rms_norm(pool, merge_norm_w_, static_cast<float>(c.eps), 1.0f, pool);
      linear(pool, proj1_, out);
      return n;
    }
    case ProjectorKind::kQwenMerger: {
      const std::int64_t unit = c.merge * c.merge;
      const std::int64_t n = rows / unit;
      Tensor normed(p1_.data, DType::kF32, {rows, D}, be_.device());
      norm(x_.rows_view(0, rows), merge_norm_w_, merge_norm_b_, normed);
      // Each merge unit's rows side by side: the same memory as [n, unit * D].
      Tensor wide = normed.as_matrix(n, unit * D);
      Tensor mid(p2_.data, DType::kF32, {n, unit * D}, be_.device());
      Tensor out(p1_.data, DType::kF32, {n, T}, be_.device());
      linear(wide, proj1_, mid);
      ops_.activation(mid, tensor::Activation::kGelu);
      linear(mid, proj2_, out);
      return n;
    }
  }
  return 0;
}

Status VisionTower::encode(const ImageInput& image, std::span<float> out) {
  MLXS_ASSIGN_OR_RETURN(const std::int64_t tokens, tokens(image));
  if (out.size() != static_cast<std::size_t>(tokens * text_hidden_)) {
    return Status(ErrorCode::kInvalidParams, "image output buffer has the wrong size");
  }
  const VisionConfig& c = cfg_;
  const bool qwen = c.projector == ProjectorKind::kQwenMerger;
  const std::int64_t patches = qwen ? stage_qwen(image) : stage_fixed(image);
  const std::int64_t first = c.traits.class_token ? 1 : 0;
  const std::int64_t rows = patches + first;

  Tensor in = in_.rows_view(0, patches);
  MLXS_RETURN_IF_ERROR(be_.upload(staged_.data(), in));
  if (qwen) MLXS_RETURN_IF_ERROR(be_.upload(rotary_.data(), cs_.rows_view(0, patches)));
  linear(in, patch_, x_.rows_view(first, rows));
  if (c.traits.class_token) ops_.copy(class_embedding_, x_.rows_view(0, 1));
  if (c.traits.learned_positions) be_.add(x_.rows_view(0, rows), positions_);
  if (c.traits.pre_norm) {
    ops_.layer_norm(x_.rows_view(0, rows), pre_norm_w_, pre_norm_b_, static_cast<float>(c.eps),
                    x_.rows_view(0, rows));
  }
  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    bool full = !c.traits.window_attention;
    for (auto f : c.full_attention_blocks) full |= static_cast<std::size_t>(f) == l;
    run_block(blocks_[l], rows, full ? full_segments_ : window_segments_);
  }
  if (c.traits.post_norm) {
    ops_.layer_norm(x_.rows_view(0, rows), post_norm_w_, post_norm_b_, static_cast<float>(c.eps),
                    x_.rows_view(0, rows));
  }
  const std::int64_t n = project(rows);
  const Tensor result(c.projector == ProjectorKind::kQwenMerger ? p1_.data : p2_.data, DType::kF32,
                      {n, text_hidden_}, be_.device());
  if (!qwen || !c.traits.window_attention) return be_.copy_to_host(result, out.data());
  // Back from window order to the image's own.
  MLXS_RETURN_IF_ERROR(be_.copy_to_host(result, out_rows_.data()));
  const auto width = static_cast<std::size_t>(text_hidden_);
  for (std::int64_t j = 0; j < n; ++j) {
    std::memcpy(
        out.data() + static_cast<std::size_t>(window_order_[static_cast<std::size_t>(j)]) * width,
        out_rows_.data() + static_cast<std::size_t>(j) * width, width * sizeof(float));
  }
  return Status::ok();
}

}  // namespace mlxs::model
