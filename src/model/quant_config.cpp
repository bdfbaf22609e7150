#include "model/quant_config.h"

#include <fmt/format.h>

#include "model/load_error.h"

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;

std::string clip(const std::string& s) {
  return s.substr(0, 64);
}

Result<std::int64_t> int_field(const Json& obj, const char* key, const std::string& file,
                               const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) {
    return file_error(file, fmt::format("{}.{} must be an integer", where, key));
  }
  return it->get<std::int64_t>();
}

Result<AffineParams> parse_affine(const Json& obj, const std::string& file,
                                  const std::string& where) {
  AffineParams p;
  MLXS_ASSIGN_OR_RETURN(auto bits, int_field(obj, "bits", file, where));
  MLXS_ASSIGN_OR_RETURN(p.group_size, int_field(obj, "group_size", file, where));
  if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8) {
    return file_error(file,
                      fmt::format("{}.bits {} is not supported (2, 3, 4, 5, 6 or 8)", where, bits));
  }
  if (p.group_size != 32 && p.group_size != 64 && p.group_size != 128) {
    return file_error(file, fmt::format("{}.group_size {} is not supported (32, 64 or 128)", where,
                                        p.group_size));
  }
  p.bits = static_cast<int>(bits);
  if (auto mode = obj.find("mode"); mode != obj.end()) {
    if (!mode->is_string() || mode->get<std::string>() != "affine") {
      return file_error(file, fmt::format("{}.mode {} is not supported (only \"affine\")", where,
                                          clip(mode->dump())));
    }
  }
  return p;
}

// mlx-lm: {"group_size", "bits", "mode"?, "<module path>": {...} | false, ...}
Result<QuantConfig> parse_mlx(const Json& q, const std::string& file, const std::string& key) {
  QuantConfig c;
  c.method = QuantMethod::kMlxAffine;
  MLXS_ASSIGN_OR_RETURN(c.affine, parse_affine(q, file, key));
  for (const auto& [name, value] : q.items()) {
    if (name == "bits" || name == "group_size" || name == "mode") continue;
    if (value.is_boolean() && !value.get<bool>()) {
      c.overrides[name] = std::nullopt;
    } else if (value.is_object()) {
      MLXS_ASSIGN_OR_RETURN(auto p, parse_affine(value, file, key + "." + clip(name)));
      c.overrides[name] = p;
    } else {
      return file_error(file, fmt::format("{}.{} must be an object or false", key, clip(name)));
    }
  }
  return c;
}

Result<std::vector<std::string>> string_list(const Json& obj, const char* key,
                                             const std::string& file) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array())
    return file_error(file, fmt::format("quantization_config.{} must be a list", key));
  for (const auto& v : *it) {
    if (!v.is_string()) {
      return file_error(file, fmt::format("quantization_config.{} must hold strings", key));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<QuantConfig> parse_fp8(const Json& q, const std::string& file) {
  QuantConfig c;
  c.method = QuantMethod::kFp8Block;
  if (auto fmt_it = q.find("fmt"); fmt_it != q.end() && *fmt_it != "e4m3") {
    return file_error(file,
                      fmt::format("quantization_config.fmt {} is not supported (only \"e4m3\")",
                                  clip(fmt_it->dump())));
  }
  if (auto sf = q.find("scale_fmt"); sf != q.end() && !sf->is_null() && *sf != "float") {
    return file_error(
        file, fmt::format("quantization_config.scale_fmt {} is not supported", clip(sf->dump())));
  }
  // transformers' FineGrainedFP8Config defaults to 128 x 128 blocks.
  c.block_rows = 128;
  c.block_cols = 128;
  if (auto bs = q.find("weight_block_size"); bs != q.end() && !bs->is_null()) {
    if (!bs->is_array() || bs->size() != 2 || !(*bs)[0].is_number_integer() ||
        !(*bs)[1].is_number_integer() || (*bs)[0].get<std::int64_t>() <= 0 ||
        (*bs)[1].get<std::int64_t>() <= 0) {
      return file_error(file,
                        "quantization_config.weight_block_size must be two positive integers");
    }
    c.block_rows = (*bs)[0].get<std::int64_t>();
    c.block_cols = (*bs)[1].get<std::int64_t>();
  }
  MLXS_ASSIGN_OR_RETURN(c.ignore, string_list(q, "modules_to_not_convert", file));
  return c;
}

// compressed-tensors: one config group of 8-bit float weights, per channel or
// per tensor; the activation scheme is a run-time choice we make ourselves.
Result<QuantConfig> parse_compressed_tensors(const Json& q, const std::string& file) {
  QuantConfig c;
  c.method = QuantMethod::kFp8Channel;
  auto groups = q.find("config_groups");
  if (groups == q.end() || !groups->is_object() || groups->empty()) {
    return file_error(file, "quantization_config.config_groups must name at least one group");
  }
  std::optional<std::string> strategy;
  for (const auto& [name, group] : groups->items()) {
    const std::string where = "quantization_config.config_groups." + clip(name);
    if (!group.is_object()) return file_error(file, where + " must be an object");
    auto format = group.find("format");
    const Json& top_format = q.contains("format") ? q["format"] : Json();
    const Json& f = format != group.end() && !format->is_null() ? *format : top_format;
    if (!f.is_null() && f != "float-quantized" && f != "naive-quantized") {
      return file_error(file, fmt::format("{}.format {} is not supported (only float-quantized)",
                                          where, clip(f.dump())));
    }
    auto weights = group.find("weights");
    if (weights == group.end() || !weights->is_object()) {
      return file_error(file, where + ".weights must be an object");
    }
    const Json& w = *weights;
    if (w.find("num_bits") == w.end() || w["num_bits"] != 8 || w.find("type") == w.end() ||
        w["type"] != "float") {
      return file_error(file, where + ".weights must be 8-bit float (FP8 e4m3)");
    }
    if (w.contains("symmetric") && w["symmetric"] != true) {
      return file_error(file, where + ".weights must be symmetric (no zero point)");
    }
    auto strategy_it = w.find("strategy");
    const std::string s = strategy_it != w.end() && strategy_it->is_string()
                              ? strategy_it->get<std::string>()
                              : std::string();
    if (s != "channel" && s != "tensor") {
      return file_error(
          file, fmt::format("{}.weights.strategy \"{}\" is not supported (channel, tensor)", where,
                            clip(s)));
    }
    if (strategy && *strategy != s) {
      return file_error(file,
                        "quantization_config groups with different strategies are not supported");
    }
    strategy = s;
  }
  c.per_tensor = strategy == "tensor";
  MLXS_ASSIGN_OR_RETURN(c.ignore, string_list(q, "ignore", file));
  return c;
}

}  // namespace

std::optional<AffineParams> QuantConfig::affine_for(const std::string& module) const {
  if (auto it = overrides.find(module); it != overrides.end()) return it->second;
  return affine;
}

std::string_view quant_method_name(QuantMethod method) {
  switch (method) {
    case QuantMethod::kNone:
      return "none";
    case QuantMethod::kMlxAffine:
      return "mlx-affine";
    case QuantMethod::kFp8Block:
      return "fp8-block";
    case QuantMethod::kFp8Channel:
      return "fp8-channel";
  }
  return "?";
}

Result<QuantConfig> parse_quant_config(const Json& doc, const std::string& file) {
  if (auto q = doc.find("quantization"); q != doc.end() && !q->is_null()) {
    if (!q->is_object()) return file_error(file, "quantization must be an object");
    return parse_mlx(*q, file, "quantization");
  }
  auto q = doc.find("quantization_config");
  if (q == doc.end() || q->is_null()) return QuantConfig{};
  if (!q->is_object()) return file_error(file, "quantization_config must be an object");
  auto method = q->find("quant_method");
  if (method == q->end()) {
    // mlx-lm writes its dict under both keys; older tools only this one.
    if (q->contains("bits") && q->contains("group_size")) {
      return parse_mlx(*q, file, "quantization_config");
    }
    return file_error(file, "quantization_config has no quant_method");
  }
  if (!method->is_string())
    return file_error(file, "quantization_config.quant_method must be a string");
  const std::string name = method->get<std::string>();
  if (name == "fp8") return parse_fp8(*q, file);
  if (name == "compressed-tensors") return parse_compressed_tensors(*q, file);
  return file_error(file,
                    fmt::format("quantization method \"{}\" is not supported (MLX affine, fp8, "
                                "compressed-tensors FP8)",
                                clip(name)));
}

}  // namespace mlxs::model
