#include "model/config.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <utility>

#include "model/load_error.h"

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;

constexpr ErrorCode kCode = ErrorCode::kModelLoadError;

struct ArchEntry {
  std::string_view model_type;
  ArchKind arch;
  bool default_tie;
};

constexpr std::array<ArchEntry, 12> kArchs{{
    {"llama", ArchKind::kLlama, false},
    {"mistral", ArchKind::kMistral, false},
    {"qwen2", ArchKind::kQwen2, false},
    {"qwen3", ArchKind::kQwen3, false},
    {"qwen3_moe", ArchKind::kQwen3Moe, false},
    {"phi3", ArchKind::kPhi3, false},
    {"gemma2", ArchKind::kGemma2, true},
    {"gemma3_text", ArchKind::kGemma3Text, true},
    // Qwen2-VL's decoder is Qwen2 with M-RoPE (4.x files name it after the
    // whole model, 5.x after its text part).
    {"qwen2_vl", ArchKind::kQwen2, false},
    {"qwen2_vl_text", ArchKind::kQwen2, false},
    {"qwen2_5_vl", ArchKind::kQwen2, false},
    {"qwen2_5_vl_text", ArchKind::kQwen2, false},
}};

// Field readers bound to one document and file name.
class Reader {
 public:
  Reader(const Json& obj, std::string file) : obj_(obj), file_(std::move(file)) {}

  Result<std::optional<std::int64_t>> opt_int(std::string_view key) const {
    return core::get_int(obj_, key, file_, kCode);
  }
  Result<std::optional<double>> opt_number(std::string_view key) const {
    return core::get_number(obj_, key, file_, kCode);
  }
  Result<std::optional<bool>> opt_bool(std::string_view key) const {
    return core::get_bool(obj_, key, file_, kCode);
  }
  Result<std::optional<std::string>> opt_string(std::string_view key) const {
    return core::get_string(obj_, key, file_, kCode);
  }
  Result<std::int64_t> positive_int(std::string_view key) const {
    MLXS_ASSIGN_OR_RETURN(auto v, opt_int(key));
    if (!v) return file_error(file_, fmt::format("missing required key '{}'", key));
    if (*v <= 0 || *v > (std::int64_t{1} << 31)) {
      return file_error(file_, fmt::format("'{}' must be a positive integer, got {}", key, *v));
    }
    return *v;
  }
  // Token ids may be an integer or a list of integers.
  Result<std::vector<std::int64_t>> id_list(std::string_view key) const {
    std::vector<std::int64_t> ids;
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return ids;
    auto check = [&](const Json& v) -> Status {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
        return file_error(file_, fmt::format("'{}' must hold non-negative integer token ids", key));
      }
      ids.push_back(v.get<std::int64_t>());
      return Status::ok();
    };
    if (it->is_array()) {
      for (const auto& v : *it) MLXS_RETURN_IF_ERROR(check(v));
    } else {
      MLXS_RETURN_IF_ERROR(check(*it));
    }
    return ids;
  }
  const std::string& file() const { return file_; }
  const Json& obj() const { return obj_; }

 private:
  const Json& obj_;
  std::string file_;
};

Result<RopeType> parse_rope_type(const std::string& name, const std::string& file) {
  if (name == "default") return RopeType::kDefault;
  if (name == "linear") return RopeType::kLinear;
  if (name == "llama3") return RopeType::kLlama3;
  if (name == "yarn") return RopeType::kYarn;
  // Qwen2-VL's 4.x files: default frequencies turned by three position axes
  // (the sections say which).
  if (name == "mrope") return RopeType::kDefault;
  return file_error(file, fmt::format("unsupported rope type '{}' (supported: default, linear, "
                                      "llama3, yarn, mrope)",
                                      name.substr(0, 64)));
}

// Fills `rope` from one RoPE dict (4.x rope_scaling or a 5.x rope_parameters
// entry). Keys absent from the dict keep the values already in `rope`.
Status apply_rope_dict(const Json& dict, const std::string& where, RopeParams& rope) {
  if (!dict.is_object()) return file_error(where, "RoPE settings must be an object");
  const Reader r(dict, where);
  MLXS_ASSIGN_OR_RETURN(auto type, r.opt_string("rope_type"));
  if (!type) {
    MLXS_ASSIGN_OR_RETURN(type, r.opt_string("type"));
  }
  if (type) {
    MLXS_ASSIGN_OR_RETURN(rope.type, parse_rope_type(*type, where));
  }
  MLXS_ASSIGN_OR_RETURN(auto theta, r.opt_number("rope_theta"));
  if (theta) rope.theta = *theta;
  MLXS_ASSIGN_OR_RETURN(auto factor, r.opt_number("factor"));
  if (factor) rope.factor = *factor;
  MLXS_ASSIGN_OR_RETURN(auto partial, r.opt_number("partial_rotary_factor"));
  if (partial) rope.partial_rotary_factor = *partial;
  MLXS_ASSIGN_OR_RETURN(auto low, r.opt_number("low_freq_factor"));
  if (low) rope.low_freq_factor = *low;
  MLXS_ASSIGN_OR_RETURN(auto high, r.opt_number("high_freq_factor"));
  if (high) rope.high_freq_factor = *high;
  MLXS_ASSIGN_OR_RETURN(auto orig, r.opt_int("original_max_position_embeddings"));
  if (orig) rope.original_max_position_embeddings = *orig;
  MLXS_ASSIGN_OR_RETURN(auto attn, r.opt_number("attention_factor"));
  if (attn) rope.attention_factor = *attn;
  MLXS_ASSIGN_OR_RETURN(auto beta_fast, r.opt_number("beta_fast"));
  if (beta_fast) rope.beta_fast = *beta_fast;
  MLXS_ASSIGN_OR_RETURN(auto beta_slow, r.opt_number("beta_slow"));
  if (beta_slow) rope.beta_slow = *beta_slow;
  MLXS_ASSIGN_OR_RETURN(auto mscale, r.opt_number("mscale"));
  if (mscale) rope.mscale = *mscale;
  MLXS_ASSIGN_OR_RETURN(auto mscale_all, r.opt_number("mscale_all_dim"));
  if (mscale_all) rope.mscale_all_dim = *mscale_all;
  MLXS_ASSIGN_OR_RETURN(auto truncate, r.opt_bool("truncate"));
  if (truncate) rope.truncate = *truncate;
  if (auto it = dict.find("mrope_section"); it != dict.end() && !it->is_null()) {
    if (!it->is_array() || it->size() != static_cast<std::size_t>(tensor::kRopeAxes)) {
      return file_error(where,
                        fmt::format("mrope_section must list {} section sizes", tensor::kRopeAxes));
    }
    rope.mrope_section.clear();
    for (const auto& v : *it) {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 4096) {
        return file_error(where, "mrope_section sizes must be integers in [0, 4096]");
      }
      rope.mrope_section.push_back(v.get<std::int64_t>());
    }
  }
  return Status::ok();
}

Status validate_rope(const RopeParams& rope, const ModelConfig& cfg, const std::string& file) {
  if (!(rope.theta > 0.0) || !std::isfinite(rope.theta)) {
    return file_error(file, "rope_theta must be a positive number");
  }
  if (!(rope.factor > 0.0) || !std::isfinite(rope.factor)) {
    return file_error(file, "RoPE 'factor' must be a positive number");
  }
  if (!(rope.partial_rotary_factor > 0.0 && rope.partial_rotary_factor <= 1.0)) {
    return file_error(file, "partial_rotary_factor must be in (0, 1]");
  }
  const auto rot =
      static_cast<std::int64_t>(static_cast<double>(cfg.head_dim) * rope.partial_rotary_factor);
  if (rot < 2 || rot % 2 != 0) {
    return file_error(file,
                      fmt::format("rotary dimension {} (head_dim x partial_rotary_factor) must "
                                  "be even and at least 2",
                                  rot));
  }
  if (!rope.mrope_section.empty()) {
    std::int64_t sum = 0;
    for (auto s : rope.mrope_section) sum += s;
    if (sum != rot / 2) {
      return file_error(file, fmt::format("mrope_section sums to {}, but the rotary dimension {} "
                                          "has {} frequencies",
                                          sum, rot, rot / 2));
    }
  }
  if (rope.type == RopeType::kLlama3) {
    if (rope.original_max_position_embeddings <= 0) {
      return file_error(file, "llama3 RoPE needs original_max_position_embeddings");
    }
    if (!(rope.high_freq_factor > rope.low_freq_factor) || !(rope.low_freq_factor > 0.0)) {
      return file_error(file, "llama3 RoPE needs 0 < low_freq_factor < high_freq_factor");
    }
  }
  return Status::ok();
}

Status parse_rope(const Reader& r, ModelConfig& cfg) {
  const Json& doc = r.obj();
  RopeParams base;
  MLXS_ASSIGN_OR_RETURN(auto partial, r.opt_number("partial_rotary_factor"));
  if (partial) base.partial_rotary_factor = *partial;
  MLXS_ASSIGN_OR_RETURN(auto orig, r.opt_int("original_max_position_embeddings"));
  if (orig) base.original_max_position_embeddings = *orig;

  auto params = doc.find("rope_parameters");
  if (params != doc.end() && !params->is_null()) {
    // transformers 5.x: one dict, or one per layer type.
    if (!params->is_object()) return file_error(r.file(), "'rope_parameters' must be an object");
    const bool per_type =
        params->contains("full_attention") || params->contains("sliding_attention");
    if (per_type) {
      cfg.rope_full = base;
      cfg.rope_sliding = base;
      if (params->contains("full_attention")) {
        MLXS_RETURN_IF_ERROR(apply_rope_dict((*params)["full_attention"],
                                             r.file() + ": rope_parameters.full_attention",
                                             cfg.rope_full));
      }
      if (params->contains("sliding_attention")) {
        MLXS_RETURN_IF_ERROR(apply_rope_dict((*params)["sliding_attention"],
                                             r.file() + ": rope_parameters.sliding_attention",
                                             cfg.rope_sliding));
      } else {
        cfg.rope_sliding = cfg.rope_full;
      }
    } else {
      cfg.rope_full = base;
      MLXS_RETURN_IF_ERROR(apply_rope_dict(*params, r.file() + ": rope_parameters", cfg.rope_full));
      cfg.rope_sliding = cfg.rope_full;
    }
  } else {
    // transformers 4.x: rope_theta + rope_scaling at top level.
    MLXS_ASSIGN_OR_RETURN(auto theta, r.opt_number("rope_theta"));
    if (theta) base.theta = *theta;
    cfg.rope_full = base;
    auto scaling = doc.find("rope_scaling");
    if (scaling != doc.end() && !scaling->is_null()) {
      MLXS_RETURN_IF_ERROR(apply_rope_dict(*scaling, r.file() + ": rope_scaling", cfg.rope_full));
    }
    cfg.rope_sliding = cfg.rope_full;
    if (cfg.arch == ArchKind::kGemma3Text) {
      // Gemma-3's local layers use their own base and no scaling.
      cfg.rope_sliding = base;
      MLXS_ASSIGN_OR_RETURN(auto local, r.opt_number("rope_local_base_freq"));
      cfg.rope_sliding.theta = local.value_or(10000.0);
    }
  }
  MLXS_RETURN_IF_ERROR(validate_rope(cfg.rope_full, cfg, r.file()));
  return validate_rope(cfg.rope_sliding, cfg, r.file());
}

Status parse_layer_types(const Reader& r, ModelConfig& cfg) {
  const Json& doc = r.obj();
  auto it = doc.find("layer_types");
  cfg.layer_types.assign(static_cast<std::size_t>(cfg.layers), LayerKind::kFull);
  if (it != doc.end() && !it->is_null()) {
    if (!it->is_array() || it->size() != static_cast<std::size_t>(cfg.layers)) {
      return file_error(r.file(),
                        fmt::format("'layer_types' must list one type per layer ({})", cfg.layers));
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const Json& v = (*it)[i];
      if (v == "full_attention") {
        cfg.layer_types[i] = LayerKind::kFull;
      } else if (v == "sliding_attention") {
        cfg.layer_types[i] = LayerKind::kSliding;
      } else {
        return file_error(r.file(), fmt::format("layer_types[{}]: unsupported layer type {}", i,
                                                core::json_excerpt(v)));
      }
    }
    return Status::ok();
  }
  // Older files derive the pattern from the architecture.
  switch (cfg.arch) {
    case ArchKind::kMistral:
    case ArchKind::kPhi3:
      if (cfg.sliding_window > 0)
        cfg.layer_types.assign(cfg.layer_types.size(), LayerKind::kSliding);
      break;
    case ArchKind::kQwen2:
    case ArchKind::kQwen3:
    case ArchKind::kQwen3Moe: {
      MLXS_ASSIGN_OR_RETURN(auto use, r.opt_bool("use_sliding_window"));
      MLXS_ASSIGN_OR_RETURN(auto max_window_layers, r.opt_int("max_window_layers"));
      if (use.value_or(false) && cfg.sliding_window > 0) {
        for (std::int64_t i = max_window_layers.value_or(0); i < cfg.layers; ++i) {
          cfg.layer_types[static_cast<std::size_t>(i)] = LayerKind::kSliding;
        }
      }
      break;
    }
    case ArchKind::kGemma2:
      for (std::int64_t i = 0; i < cfg.layers; ++i) {
        if ((i + 1) % 2 != 0) cfg.layer_types[static_cast<std::size_t>(i)] = LayerKind::kSliding;
      }
      break;
    case ArchKind::kGemma3Text: {
      MLXS_ASSIGN_OR_RETURN(auto pattern, r.opt_int("sliding_window_pattern"));
      if (!pattern) {
        MLXS_ASSIGN_OR_RETURN(pattern, r.opt_int("_sliding_window_pattern"));
      }
      const std::int64_t p = pattern.value_or(6);
      if (p <= 0) return file_error(r.file(), "sliding_window_pattern must be positive");
      for (std::int64_t i = 0; i < cfg.layers; ++i) {
        if ((i + 1) % p != 0) cfg.layer_types[static_cast<std::size_t>(i)] = LayerKind::kSliding;
      }
      break;
    }
    case ArchKind::kLlama:
      break;
  }
  return Status::ok();
}

Result<tensor::Activation> parse_activation(const std::string& name, const std::string& file) {
  if (name == "silu" || name == "swish") return tensor::Activation::kSilu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") {
    return tensor::Activation::kGeluTanh;
  }
  if (name == "gelu") return tensor::Activation::kGelu;
  return file_error(file, fmt::format("unsupported activation '{}'", name.substr(0, 64)));
}

}  // namespace

std::vector<std::string> supported_model_types() {
  std::vector<std::string> out;
  for (const auto& e : kArchs) out.emplace_back(e.model_type);
  return out;
}

std::string_view arch_name(ArchKind arch) {
  for (const auto& e : kArchs) {
    if (e.arch == arch) return e.model_type;
  }
  return "unknown";
}

bool ModelConfig::is_moe_layer(std::int64_t layer) const {
  if (num_experts <= 0) return false;
  for (auto l : mlp_only_layers) {
    if (l == layer) return false;
  }
  return decoder_sparse_step > 0 && (layer + 1) % decoder_sparse_step == 0;
}

float ModelConfig::attention_scale() const {
  const double d = query_pre_attn_scalar.value_or(static_cast<double>(head_dim));
  return static_cast<float>(1.0 / std::sqrt(d));
}

namespace {

// A vision-language config keeps its decoder's settings under text_config
// (Qwen2-VL's 4.x files keep them at the top level). Keys a checkpoint
// states once for the whole model come from the top level where the text
// part lacks them.
Json text_part(const Json& doc) {
  Json text = doc["text_config"];
  for (const char* key :
       {"torch_dtype", "dtype", "quantization", "quantization_config", "tie_word_embeddings",
        "bos_token_id", "eos_token_id", "pad_token_id", "vocab_size", "architectures"}) {
    if (!text.contains(key) && doc.contains(key)) text[key] = doc[key];
  }
  return text;
}

}  // namespace

Result<ModelConfig> parse_model_config(const Json& doc, const std::string& file) {
  if (!doc.is_object()) return file_error(file, "is not a JSON object");
  if (auto it = doc.find("text_config"); it != doc.end() && it->is_object()) {
    if (it->contains("text_config")) return file_error(file, "text_config is nested");
    return parse_model_config(text_part(doc), file + ": text_config");
  }
  const Reader r(doc, file);
  ModelConfig cfg;
  MLXS_ASSIGN_OR_RETURN(auto model_type, r.opt_string("model_type"));
  if (!model_type) return file_error(file, "missing required key 'model_type'");
  cfg.model_type = *model_type;
  const ArchEntry* entry = nullptr;
  for (const auto& e : kArchs) {
    if (e.model_type == cfg.model_type) entry = &e;
  }
  if (entry == nullptr) {
    std::string list;
    for (const auto& e : kArchs) list += (list.empty() ? "" : ", ") + std::string(e.model_type);
    return file_error(file, fmt::format("unsupported architecture '{}' (supported: {})",
                                        cfg.model_type.substr(0, 64), list));
  }
  cfg.arch = entry->arch;
  if (auto it = doc.find("architectures");
      it != doc.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    cfg.architecture = (*it)[0].get<std::string>();
  }

  MLXS_ASSIGN_OR_RETURN(cfg.quant, parse_quant_config(doc, file));
  MLXS_ASSIGN_OR_RETURN(cfg.hidden, r.positive_int("hidden_size"));
  MLXS_ASSIGN_OR_RETURN(cfg.layers, r.positive_int("num_hidden_layers"));
  MLXS_ASSIGN_OR_RETURN(cfg.heads, r.positive_int("num_attention_heads"));
  MLXS_ASSIGN_OR_RETURN(cfg.vocab, r.positive_int("vocab_size"));
  MLXS_ASSIGN_OR_RETURN(cfg.intermediate, r.positive_int("intermediate_size"));
  MLXS_ASSIGN_OR_RETURN(auto kv, r.opt_int("num_key_value_heads"));
  cfg.kv_heads = kv.value_or(cfg.heads);
  if (cfg.kv_heads <= 0 || cfg.heads % cfg.kv_heads != 0) {
    return file_error(file, fmt::format("num_attention_heads ({}) must be a multiple of "
                                        "num_key_value_heads ({})",
                                        cfg.heads, cfg.kv_heads));
  }
  MLXS_ASSIGN_OR_RETURN(auto head_dim, r.opt_int("head_dim"));
  if (head_dim) {
    cfg.head_dim = *head_dim;
  } else {
    if (cfg.hidden % cfg.heads != 0) {
      return file_error(file,
                        "hidden_size is not a multiple of num_attention_heads and no head_dim");
    }
    cfg.head_dim = cfg.hidden / cfg.heads;
  }
  if (cfg.head_dim <= 0 || cfg.head_dim % 2 != 0 || cfg.head_dim > 1024) {
    return file_error(file, fmt::format("head_dim {} must be even and in [2, 1024]", cfg.head_dim));
  }
  MLXS_ASSIGN_OR_RETURN(auto max_pos, r.opt_int("max_position_embeddings"));
  cfg.max_position = max_pos.value_or(4096);
  if (cfg.max_position <= 0) return file_error(file, "max_position_embeddings must be positive");
  MLXS_ASSIGN_OR_RETURN(auto eps, r.opt_number("rms_norm_eps"));
  cfg.rms_eps = eps.value_or(1e-6);
  if (!(cfg.rms_eps > 0.0)) return file_error(file, "rms_norm_eps must be positive");
  MLXS_ASSIGN_OR_RETURN(auto tie, r.opt_bool("tie_word_embeddings"));
  cfg.tie_embeddings = tie.value_or(entry->default_tie);

  MLXS_ASSIGN_OR_RETURN(auto act, r.opt_string("hidden_activation"));
  if (!act) {
    MLXS_ASSIGN_OR_RETURN(act, r.opt_string("hidden_act"));
  }
  const bool gemma = cfg.arch == ArchKind::kGemma2 || cfg.arch == ArchKind::kGemma3Text;
  MLXS_ASSIGN_OR_RETURN(cfg.activation,
                        parse_activation(act.value_or(gemma ? "gelu_pytorch_tanh" : "silu"), file));
  MLXS_ASSIGN_OR_RETURN(auto attention_bias, r.opt_bool("attention_bias"));
  // Qwen2 always has q/k/v biases and its config has no key for them.
  cfg.attention_bias = cfg.arch == ArchKind::kQwen2 || attention_bias.value_or(false);
  MLXS_ASSIGN_OR_RETURN(auto mlp_bias, r.opt_bool("mlp_bias"));
  cfg.mlp_bias = mlp_bias.value_or(false);

  MLXS_ASSIGN_OR_RETURN(auto window, r.opt_int("sliding_window"));
  cfg.sliding_window = window.value_or(0);
  if (cfg.sliding_window < 0) return file_error(file, "sliding_window must be positive or null");
  MLXS_RETURN_IF_ERROR(parse_layer_types(r, cfg));
  for (auto kind : cfg.layer_types) {
    if (kind == LayerKind::kSliding && cfg.sliding_window <= 0) {
      return file_error(file, "sliding layers need a positive sliding_window");
    }
  }
  MLXS_RETURN_IF_ERROR(parse_rope(r, cfg));

  MLXS_ASSIGN_OR_RETURN(auto attn_cap, r.opt_number("attn_logit_softcapping"));
  cfg.attn_softcap = attn_cap.value_or(0.0);
  MLXS_ASSIGN_OR_RETURN(auto final_cap, r.opt_number("final_logit_softcapping"));
  cfg.final_softcap = final_cap.value_or(0.0);
  if (cfg.attn_softcap < 0 || cfg.final_softcap < 0) {
    return file_error(file, "softcapping values must be positive or null");
  }
  MLXS_ASSIGN_OR_RETURN(cfg.query_pre_attn_scalar, r.opt_number("query_pre_attn_scalar"));
  if (cfg.query_pre_attn_scalar && !(*cfg.query_pre_attn_scalar > 0.0)) {
    return file_error(file, "query_pre_attn_scalar must be positive");
  }

  if (cfg.arch == ArchKind::kQwen3Moe) {
    MLXS_ASSIGN_OR_RETURN(auto experts, r.opt_int("num_experts"));
    if (!experts) {
      MLXS_ASSIGN_OR_RETURN(experts, r.opt_int("num_local_experts"));
    }
    if (!experts || *experts <= 0 || *experts > 4096) {
      return file_error(file, "num_experts (or num_local_experts) must be a positive integer");
    }
    cfg.num_experts = *experts;
    MLXS_ASSIGN_OR_RETURN(cfg.experts_per_token, r.positive_int("num_experts_per_tok"));
    if (cfg.experts_per_token > cfg.num_experts) {
      return file_error(file, "num_experts_per_tok exceeds the number of experts");
    }
    MLXS_ASSIGN_OR_RETURN(cfg.moe_intermediate, r.positive_int("moe_intermediate_size"));
    MLXS_ASSIGN_OR_RETURN(auto norm, r.opt_bool("norm_topk_prob"));
    cfg.norm_topk_prob = norm.value_or(false);
    MLXS_ASSIGN_OR_RETURN(auto step, r.opt_int("decoder_sparse_step"));
    cfg.decoder_sparse_step = step.value_or(1);
    if (cfg.decoder_sparse_step <= 0)
      return file_error(file, "decoder_sparse_step must be positive");
    if (auto it = doc.find("mlp_only_layers"); it != doc.end() && !it->is_null()) {
      if (!it->is_array())
        return file_error(file, "mlp_only_layers must be a list of layer indices");
      for (const auto& v : *it) {
        if (!v.is_number_integer()) return file_error(file, "mlp_only_layers must hold integers");
        cfg.mlp_only_layers.push_back(v.get<std::int64_t>());
      }
    }
  }

  MLXS_ASSIGN_OR_RETURN(auto dtype_name, r.opt_string("dtype"));
  if (!dtype_name) {
    MLXS_ASSIGN_OR_RETURN(dtype_name, r.opt_string("torch_dtype"));
  }
  if (dtype_name) {
    const auto dtype = tensor::dtype_from_torch_name(*dtype_name);
    if (!dtype || !(*dtype == tensor::DType::kF32 || *dtype == tensor::DType::kF16 ||
                    *dtype == tensor::DType::kBF16)) {
      return file_error(file, fmt::format("unsupported dtype '{}'", dtype_name->substr(0, 64)));
    }
    cfg.dtype = *dtype;
  }

  MLXS_ASSIGN_OR_RETURN(cfg.bos_token_id, r.opt_int("bos_token_id"));
  MLXS_ASSIGN_OR_RETURN(cfg.eos_token_ids, r.id_list("eos_token_id"));
  MLXS_ASSIGN_OR_RETURN(cfg.pad_token_id, r.opt_int("pad_token_id"));
  return cfg;
}

Result<ModelConfig> load_model_config(const std::string& path, const std::string& display_name) {
  MLXS_ASSIGN_OR_RETURN(Json doc, core::read_json_file(path, display_name, kCode, 16u << 20));
  return parse_model_config(doc, display_name);
}

Result<GenerationConfig> parse_generation_config(const Json& doc, const std::string& file) {
  if (!doc.is_object()) return file_error(file, "is not a JSON object");
  const Reader r(doc, file);
  GenerationConfig gen;
  MLXS_ASSIGN_OR_RETURN(gen.bos_token_id, r.opt_int("bos_token_id"));
  MLXS_ASSIGN_OR_RETURN(gen.eos_token_ids, r.id_list("eos_token_id"));
  MLXS_ASSIGN_OR_RETURN(gen.pad_token_id, r.opt_int("pad_token_id"));
  MLXS_ASSIGN_OR_RETURN(gen.do_sample, r.opt_bool("do_sample"));
  MLXS_ASSIGN_OR_RETURN(gen.temperature, r.opt_number("temperature"));
  MLXS_ASSIGN_OR_RETURN(gen.top_p, r.opt_number("top_p"));
  MLXS_ASSIGN_OR_RETURN(gen.top_k, r.opt_int("top_k"));
  MLXS_ASSIGN_OR_RETURN(gen.min_p, r.opt_number("min_p"));
  MLXS_ASSIGN_OR_RETURN(gen.repetition_penalty, r.opt_number("repetition_penalty"));
  MLXS_ASSIGN_OR_RETURN(gen.max_new_tokens, r.opt_int("max_new_tokens"));
  return gen;
}

Result<GenerationConfig> load_generation_config(const std::string& dir) {
  const auto path = std::filesystem::path(dir) / "generation_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return GenerationConfig{};
  MLXS_ASSIGN_OR_RETURN(
      Json doc, core::read_json_file(path.string(), "generation_config.json", kCode, 1u << 20));
  return parse_generation_config(doc, "generation_config.json");
}

}  // namespace mlxs::model
