#include "model/vision_config.h"

#include <cmath>

#include <fmt/format.h>

#include "model/load_error.h"

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;

constexpr ErrorCode kCode = ErrorCode::kModelLoadError;
constexpr std::int64_t kMaxDim = std::int64_t{1} << 20;

// Optional fields of one object, range-checked, errors naming file and key.
class Fields {
 public:
  Fields(const Json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  Result<std::int64_t> size(std::string_view key, std::int64_t fallback) const {
    MLXS_ASSIGN_OR_RETURN(auto v, core::get_int(obj_, key, where_, kCode));
    const std::int64_t n = v.value_or(fallback);
    if (n <= 0 || n > kMaxDim) {
      return file_error(
          where_, fmt::format("'{}' must be a positive integer up to {}, got {}", key, kMaxDim, n));
    }
    return n;
  }
  Result<std::int64_t> token(std::string_view key, std::int64_t fallback) const {
    MLXS_ASSIGN_OR_RETURN(auto v, core::get_int(obj_, key, where_, kCode));
    const std::int64_t id = v.value_or(fallback);
    if (id < 0) return file_error(where_, fmt::format("'{}' must be a token id", key));
    return id;
  }
  Result<std::optional<std::int64_t>> opt_token(std::string_view key) const {
    MLXS_ASSIGN_OR_RETURN(auto v, core::get_int(obj_, key, where_, kCode));
    if (v && *v < 0) return file_error(where_, fmt::format("'{}' must be a token id", key));
    return v;
  }
  Result<double> positive(std::string_view key, double fallback) const {
    MLXS_ASSIGN_OR_RETURN(auto v, core::get_number(obj_, key, where_, kCode));
    const double x = v.value_or(fallback);
    if (!(x > 0.0) || !std::isfinite(x)) {
      return file_error(where_, fmt::format("'{}' must be a positive number", key));
    }
    return x;
  }
  Result<std::string> string(std::string_view key, std::string fallback) const {
    MLXS_ASSIGN_OR_RETURN(auto v, core::get_string(obj_, key, where_, kCode));
    return v.value_or(std::move(fallback));
  }
  Result<bool> flag(std::string_view key, bool fallback) const {
    MLXS_ASSIGN_OR_RETURN(auto v, core::get_bool(obj_, key, where_, kCode));
    return v.value_or(fallback);
  }
  const std::string& where() const { return where_; }

 private:
  const Json& obj_;
  std::string where_;
};

Result<tensor::Activation> activation(const std::string& name, const std::string& where) {
  if (name == "gelu") return tensor::Activation::kGelu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") {
    return tensor::Activation::kGeluTanh;
  }
  if (name == "quick_gelu") return tensor::Activation::kQuickGelu;
  if (name == "silu" || name == "swish") return tensor::Activation::kSilu;
  return file_error(where, fmt::format("unsupported activation '{}'", name.substr(0, 64)));
}

// CLIP and SigLIP towers (LLaVA, Gemma 3): transformers' defaults where a
// key is absent.
Status parse_vit(const Fields& v, VisionConfig& c) {
  const bool clip = c.family == VisionFamily::kClip;
  MLXS_ASSIGN_OR_RETURN(c.hidden, v.size("hidden_size", 768));
  MLXS_ASSIGN_OR_RETURN(c.intermediate, v.size("intermediate_size", 3072));
  MLXS_ASSIGN_OR_RETURN(c.layers, v.size("num_hidden_layers", 12));
  MLXS_ASSIGN_OR_RETURN(c.heads, v.size("num_attention_heads", 12));
  MLXS_ASSIGN_OR_RETURN(c.channels, v.size("num_channels", 3));
  MLXS_ASSIGN_OR_RETURN(c.image_size, v.size("image_size", 224));
  MLXS_ASSIGN_OR_RETURN(c.patch, v.size("patch_size", clip ? 32 : 16));
  MLXS_ASSIGN_OR_RETURN(c.eps, v.positive("layer_norm_eps", clip ? 1e-5 : 1e-6));
  MLXS_ASSIGN_OR_RETURN(auto act,
                        v.string("hidden_act", clip ? "quick_gelu" : "gelu_pytorch_tanh"));
  MLXS_ASSIGN_OR_RETURN(c.activation, activation(act, v.where()));
  if (c.image_size % c.patch != 0) {
    return file_error(v.where(), "image_size must be a multiple of patch_size");
  }
  c.traits.learned_positions = true;
  c.traits.class_token = clip;
  c.traits.pre_norm = clip;
  c.traits.patch_bias = !clip;
  return Status::ok();
}

// Qwen2-VL's and Qwen2.5-VL's towers.
Status parse_qwen_vit(const Fields& v, VisionConfig& c) {
  const bool v25 = c.family == VisionFamily::kQwen25Vl;
  MLXS_ASSIGN_OR_RETURN(c.layers, v.size("depth", 32));
  MLXS_ASSIGN_OR_RETURN(c.heads, v.size("num_heads", 16));
  MLXS_ASSIGN_OR_RETURN(c.patch, v.size("patch_size", 14));
  MLXS_ASSIGN_OR_RETURN(c.temporal_patch, v.size("temporal_patch_size", 2));
  MLXS_ASSIGN_OR_RETURN(c.merge, v.size("spatial_merge_size", 2));
  MLXS_ASSIGN_OR_RETURN(c.channels, v.size("in_channels", 3));
  if (v25) {
    MLXS_ASSIGN_OR_RETURN(c.hidden, v.size("hidden_size", 1280));
    MLXS_ASSIGN_OR_RETURN(c.intermediate, v.size("intermediate_size", 3420));
    MLXS_ASSIGN_OR_RETURN(auto window_px, v.size("window_size", 112));
    if (window_px % (c.patch * c.merge) != 0) {
      return file_error(v.where(), "window_size must be a multiple of patch_size x merge size");
    }
    c.window = window_px / (c.patch * c.merge);
  } else {
    MLXS_ASSIGN_OR_RETURN(c.hidden, v.size("embed_dim", 1280));
    MLXS_ASSIGN_OR_RETURN(auto ratio, v.size("mlp_ratio", 4));
    c.intermediate = c.hidden * ratio;
  }
  MLXS_ASSIGN_OR_RETURN(auto act, v.string("hidden_act", v25 ? "silu" : "quick_gelu"));
  MLXS_ASSIGN_OR_RETURN(c.activation, activation(act, v.where()));
  c.eps = 1e-6;
  c.rope_theta = 10000.0;  // transformers' default; 5.x files may say otherwise
  c.traits.fused_qkv = true;
  c.traits.rms_norm = v25;
  c.traits.gated_mlp = v25;
  c.traits.window_attention = v25;
  return Status::ok();
}

}  // namespace

std::vector<std::string> supported_vision_model_types() {
  return {"llava", "gemma3", "qwen2_vl", "qwen2_5_vl"};
}

Result<std::optional<VisionConfig>> parse_vision_config(const Json& doc, const std::string& file) {
  if (!doc.is_object()) return file_error(file, "is not a JSON object");
  const auto vit = doc.find("vision_config");
  if (vit == doc.end() || vit->is_null()) return std::optional<VisionConfig>();
  if (!vit->is_object()) return file_error(file, "vision_config must be an object");
  const Fields top(doc, file);
  const Fields v(*vit, file + ": vision_config");
  VisionConfig c;
  MLXS_ASSIGN_OR_RETURN(c.model_type, top.string("model_type", ""));
  MLXS_ASSIGN_OR_RETURN(auto vision_type, v.string("model_type", ""));
  if (c.model_type == "llava" || c.model_type == "gemma3") {
    if (vision_type == "clip_vision_model") {
      c.family = VisionFamily::kClip;
    } else if (vision_type == "siglip_vision_model") {
      c.family = VisionFamily::kSiglip;
    } else {
      return file_error(v.where(), fmt::format("unsupported vision tower '{}' (supported: "
                                               "clip_vision_model, siglip_vision_model)",
                                               vision_type.substr(0, 64)));
    }
    MLXS_RETURN_IF_ERROR(parse_vit(v, c));
  } else if (c.model_type == "qwen2_vl" || c.model_type == "qwen2_5_vl") {
    c.family = c.model_type == "qwen2_vl" ? VisionFamily::kQwen2Vl : VisionFamily::kQwen25Vl;
    MLXS_RETURN_IF_ERROR(parse_qwen_vit(v, c));
    if (auto rp = vit->find("rope_parameters"); rp != vit->end() && rp->is_object()) {
      const Fields rope(*rp, v.where() + ".rope_parameters");
      MLXS_ASSIGN_OR_RETURN(c.rope_theta, rope.positive("rope_theta", 10000.0));
    }
  } else {
    std::string list;
    for (const auto& t : supported_vision_model_types()) list += (list.empty() ? "" : ", ") + t;
    return file_error(file, fmt::format("unsupported vision-language model '{}' (supported: {})",
                                        c.model_type.substr(0, 64), list));
  }
  if (c.hidden % c.heads != 0 || c.head_dim() % 2 != 0) {
    return file_error(v.where(), "the tower's width must be an even multiple of its heads");
  }

  if (c.model_type == "llava") {
    c.projector = ProjectorKind::kLlavaMlp;
    MLXS_ASSIGN_OR_RETURN(c.image_token_id, top.token("image_token_index", 32000));
    MLXS_ASSIGN_OR_RETURN(auto act, top.string("projector_hidden_act", "gelu"));
    MLXS_ASSIGN_OR_RETURN(c.projector_activation, activation(act, file));
    MLXS_ASSIGN_OR_RETURN(c.projector_bias, top.flag("multimodal_projector_bias", true));
    const auto layer = doc.find("vision_feature_layer");
    std::int64_t which = -2;
    if (layer != doc.end() && !layer->is_null()) {
      if (!layer->is_number_integer()) {
        return file_error(file,
                          "vision_feature_layer must be one layer index (lists of layers "
                          "are not supported)");
      }
      which = layer->get<std::int64_t>();
    }
    // hidden_states has layers + 1 entries: the embeddings, then each block's output.
    const std::int64_t index = which < 0 ? c.layers + 1 + which : which;
    if (index < 0 || index > c.layers) {
      return file_error(
          file,
          fmt::format("vision_feature_layer {} is outside the tower's {} layers", which, c.layers));
    }
    c.feature_layers = index;
    MLXS_ASSIGN_OR_RETURN(auto strategy, top.string("vision_feature_select_strategy", "default"));
    if (strategy != "default" && strategy != "full") {
      return file_error(file, fmt::format("vision_feature_select_strategy '{}' is not default or "
                                          "full",
                                          strategy.substr(0, 32)));
    }
    c.drop_class_token = strategy == "default" && c.traits.class_token;
  } else if (c.model_type == "gemma3") {
    c.projector = ProjectorKind::kGemma3Pool;
    c.feature_layers = c.layers;
    c.traits.post_norm = true;
    MLXS_ASSIGN_OR_RETURN(c.image_token_id, top.token("image_token_index", 262144));
    MLXS_ASSIGN_OR_RETURN(auto boi, top.token("boi_token_index", 255999));
    MLXS_ASSIGN_OR_RETURN(auto eoi, top.token("eoi_token_index", 256000));
    c.image_start_id = boi;
    c.image_end_id = eoi;
    MLXS_ASSIGN_OR_RETURN(c.tokens_per_image, top.size("mm_tokens_per_image", 256));
    MLXS_ASSIGN_OR_RETURN(auto head, v.flag("vision_use_head", false));
    if (head) return file_error(v.where(), "vision_use_head is not supported for Gemma 3");
    const std::int64_t side = c.image_size / c.patch;
    const auto pooled = static_cast<std::int64_t>(std::lround(std::sqrt(c.tokens_per_image)));
    if (pooled * pooled != c.tokens_per_image || pooled <= 0 || side % pooled != 0) {
      return file_error(file, fmt::format("mm_tokens_per_image {} is not a square that divides the "
                                          "{} x {} patch grid",
                                          c.tokens_per_image, side, side));
    }
    c.bidirectional_image_attention = true;
    c.drop_class_token = false;
  } else {
    c.projector = ProjectorKind::kQwenMerger;
    c.feature_layers = c.layers;
    c.drop_class_token = false;
    MLXS_ASSIGN_OR_RETURN(c.image_token_id, top.token("image_token_id", 151655));
    MLXS_ASSIGN_OR_RETURN(c.image_start_id, top.opt_token("vision_start_token_id"));
    MLXS_ASSIGN_OR_RETURN(c.image_end_id, top.opt_token("vision_end_token_id"));
    if (c.family == VisionFamily::kQwen25Vl) {
      if (auto it = vit->find("fullatt_block_indexes"); it != vit->end() && !it->is_null()) {
        if (!it->is_array()) return file_error(v.where(), "fullatt_block_indexes must be a list");
        for (const auto& b : *it) {
          if (!b.is_number_integer() || b.get<std::int64_t>() < 0 ||
              b.get<std::int64_t>() >= c.layers) {
            return file_error(v.where(), "fullatt_block_indexes must list block indices");
          }
          c.full_attention_blocks.push_back(b.get<std::int64_t>());
        }
      }
    }
  }
  return std::optional<VisionConfig>(std::move(c));
}

}  // namespace mlxs::model
