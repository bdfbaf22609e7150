#include "image/processor_config.h"

#include <cmath>

#include <fmt/format.h>

namespace mlxs::image {
namespace {

using core::ErrorCode;
using core::Json;

constexpr ErrorCode kCode = ErrorCode::kModelLoadError;

core::Status bad(std::string_view file, std::string_view key, std::string_view what) {
  return core::make_error(kCode, "{}: {} {}", file, key, what);
}

core::Status read_bool(const Json& doc, std::string_view key, std::string_view file, bool& out) {
  MLXS_ASSIGN_OR_RETURN(auto v, core::get_bool(doc, key, file, kCode));
  if (v) out = *v;
  return core::Status::ok();
}

core::Status read_positive(const Json& obj, std::string_view key, std::string_view context,
                           std::int64_t max, std::int64_t& out) {
  MLXS_ASSIGN_OR_RETURN(auto v, core::get_int(obj, key, context, kCode));
  if (!v) return core::Status::ok();
  if (*v <= 0 || *v > max) {
    return core::make_error(kCode, "{}.{} must be in [1, {}], got {}", context, key, max, *v);
  }
  out = *v;
  return core::Status::ok();
}

core::Status read_positive_int(const Json& obj, std::string_view key, std::string_view context,
                               int& out) {
  std::int64_t v = out;
  MLXS_RETURN_IF_ERROR(read_positive(obj, key, context, 1 << 16, v));
  out = static_cast<int>(v);
  return core::Status::ok();
}

core::Status read_triple(const Json& doc, std::string_view key, std::string_view file,
                         std::array<double, 3>& out, bool positive) {
  if (!doc.contains(key)) return core::Status::ok();
  const Json& v = doc.at(std::string(key));
  std::array<double, 3> values{};
  if (v.is_number()) {
    values.fill(v.get<double>());
  } else if (v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() &&
             v[2].is_number()) {
    for (int i = 0; i < 3; ++i) values[i] = v[i].get<double>();
  } else {
    return bad(file, key, "must be a number or a list of 3 numbers");
  }
  for (double d : values) {
    if (!std::isfinite(d) || (positive && d <= 0)) return bad(file, key, "has a bad value");
  }
  out = values;
  return core::Status::ok();
}

std::string_view base_type(std::string_view name) {
  for (std::string_view suffix : {"Fast", "Pil"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      name.remove_suffix(suffix.size());
    }
  }
  return name;
}

void set_defaults(ProcessorConfig& c) {
  switch (c.kind) {
    case ProcessorKind::kClip:
      c.resample = Resample::kBicubic;
      c.shortest_edge = 224;
      c.crop_height = c.crop_width = 224;
      c.do_center_crop = true;
      break;
    case ProcessorKind::kQwen2Vl:
      c.resample = Resample::kBicubic;
      break;
    case ProcessorKind::kSiglip:
      c.size_height = c.size_width = 224;
      c.mean = {0.5, 0.5, 0.5};
      c.std = {0.5, 0.5, 0.5};
      break;
  }
}

// size / crop_size: {"height", "width"}, {"shortest_edge"} or a bare int.
core::Status read_size(const Json& doc, std::string_view key, std::string_view file,
                       ProcessorConfig& c) {
  if (!doc.contains(key) || doc.at(std::string(key)).is_null()) return core::Status::ok();
  const Json& v = doc.at(std::string(key));
  const std::string context = fmt::format("{}: {}", file, key);
  const bool crop = key == "crop_size";
  if (v.is_number_integer()) {
    std::int64_t n = v.get<std::int64_t>();
    if (n <= 0 || n > (1 << 16)) return bad(file, key, "must be positive");
    if (crop) {
      c.crop_height = c.crop_width = static_cast<int>(n);
    } else if (c.kind == ProcessorKind::kClip) {
      c.shortest_edge = static_cast<int>(n);
      c.size_height = c.size_width = 0;
    } else {
      c.size_height = c.size_width = static_cast<int>(n);
    }
    return core::Status::ok();
  }
  if (!v.is_object()) return bad(file, key, "must be an object or an integer");
  if (crop) {
    MLXS_RETURN_IF_ERROR(read_positive_int(v, "height", context, c.crop_height));
    return read_positive_int(v, "width", context, c.crop_width);
  }
  if (c.kind == ProcessorKind::kQwen2Vl) {
    // Here shortest_edge and longest_edge are pixel counts (min and max pixels).
    MLXS_RETURN_IF_ERROR(read_positive(v, "shortest_edge", context, 1LL << 40, c.min_pixels));
    MLXS_RETURN_IF_ERROR(read_positive(v, "longest_edge", context, 1LL << 40, c.max_pixels));
    MLXS_RETURN_IF_ERROR(read_positive(v, "min_pixels", context, 1LL << 40, c.min_pixels));
    return read_positive(v, "max_pixels", context, 1LL << 40, c.max_pixels);
  }
  if (v.contains("shortest_edge")) {
    if (c.kind != ProcessorKind::kClip)
      return bad(file, key, "shortest_edge is not supported here");
    MLXS_RETURN_IF_ERROR(read_positive_int(v, "shortest_edge", context, c.shortest_edge));
    c.size_height = c.size_width = 0;
    return core::Status::ok();
  }
  if (!v.contains("height") || !v.contains("width")) {
    return bad(file, key, "needs height and width or shortest_edge");
  }
  MLXS_RETURN_IF_ERROR(read_positive_int(v, "height", context, c.size_height));
  MLXS_RETURN_IF_ERROR(read_positive_int(v, "width", context, c.size_width));
  c.shortest_edge = 0;
  return core::Status::ok();
}

}  // namespace

core::Result<ProcessorConfig> parse_processor_config(const Json& doc,
                                                     std::string_view display_name) {
  if (!doc.is_object()) return bad(display_name, "document", "is not an object");
  ProcessorConfig c;
  MLXS_ASSIGN_OR_RETURN(auto type,
                        core::get_string(doc, "image_processor_type", display_name, kCode));
  if (!type) return bad(display_name, "image_processor_type", "is missing");
  c.type_name = *type;
  const std::string_view base = base_type(*type);
  if (base == "CLIPImageProcessor" || base == "LlavaImageProcessor") {
    c.kind = ProcessorKind::kClip;
  } else if (base == "Qwen2VLImageProcessor") {
    c.kind = ProcessorKind::kQwen2Vl;
  } else if (base == "Gemma3ImageProcessor" || base == "SiglipImageProcessor") {
    c.kind = ProcessorKind::kSiglip;
  } else {
    return core::make_error(ErrorCode::kUnsupported, "{}: image processor {} is not supported",
                            display_name, *type);
  }
  set_defaults(c);
  if (base == "Gemma3ImageProcessor") c.resample = Resample::kBilinear;

  MLXS_RETURN_IF_ERROR(read_bool(doc, "do_resize", display_name, c.do_resize));
  MLXS_RETURN_IF_ERROR(read_bool(doc, "do_rescale", display_name, c.do_rescale));
  MLXS_RETURN_IF_ERROR(read_bool(doc, "do_normalize", display_name, c.do_normalize));
  if (c.kind == ProcessorKind::kClip) {
    MLXS_RETURN_IF_ERROR(read_bool(doc, "do_center_crop", display_name, c.do_center_crop));
  }
  MLXS_RETURN_IF_ERROR(read_bool(doc, "do_pan_and_scan", display_name, c.pan_and_scan));
  if (c.pan_and_scan && base != "Gemma3ImageProcessor") {
    return core::make_error(ErrorCode::kUnsupported,
                            "{}: do_pan_and_scan is Gemma 3's; {} has none", display_name, *type);
  }
  if (c.kind == ProcessorKind::kSiglip) {
    const std::string ctx(display_name);
    MLXS_RETURN_IF_ERROR(
        read_positive_int(doc, "pan_and_scan_min_crop_size", ctx, c.pan_and_scan_min_crop_size));
    MLXS_RETURN_IF_ERROR(
        read_positive_int(doc, "pan_and_scan_max_num_crops", ctx, c.pan_and_scan_max_crops));
    MLXS_ASSIGN_OR_RETURN(auto ratio, core::get_number(doc, "pan_and_scan_min_ratio_to_activate",
                                                       display_name, kCode));
    if (ratio) {
      if (!std::isfinite(*ratio) || *ratio < 1.0) {
        return bad(display_name, "pan_and_scan_min_ratio_to_activate", "must be at least 1");
      }
      c.pan_and_scan_min_ratio = *ratio;
    }
    if (c.pan_and_scan_max_crops > 64) {
      return bad(display_name, "pan_and_scan_max_num_crops", "must be at most 64");
    }
  }
  MLXS_ASSIGN_OR_RETURN(auto resample, core::get_int(doc, "resample", display_name, kCode));
  if (resample) {
    if (*resample < 1 || *resample > 5) {
      return bad(display_name, "resample",
                 "must be a PIL filter from 1 to 5 (0, nearest, is not supported)");
    }
    c.resample = static_cast<Resample>(*resample);
  }
  MLXS_ASSIGN_OR_RETURN(auto factor, core::get_number(doc, "rescale_factor", display_name, kCode));
  if (factor) {
    if (!std::isfinite(*factor) || *factor <= 0)
      return bad(display_name, "rescale_factor", "must be positive");
    c.rescale_factor = *factor;
  }
  MLXS_RETURN_IF_ERROR(read_triple(doc, "image_mean", display_name, c.mean, false));
  MLXS_RETURN_IF_ERROR(read_triple(doc, "image_std", display_name, c.std, true));
  MLXS_RETURN_IF_ERROR(read_size(doc, "size", display_name, c));
  if (c.kind == ProcessorKind::kClip)
    MLXS_RETURN_IF_ERROR(read_size(doc, "crop_size", display_name, c));
  if (c.kind == ProcessorKind::kQwen2Vl) {
    const std::string ctx(display_name);
    MLXS_RETURN_IF_ERROR(read_positive(doc, "min_pixels", ctx, 1LL << 40, c.min_pixels));
    MLXS_RETURN_IF_ERROR(read_positive(doc, "max_pixels", ctx, 1LL << 40, c.max_pixels));
    MLXS_RETURN_IF_ERROR(read_positive_int(doc, "patch_size", ctx, c.patch_size));
    MLXS_RETURN_IF_ERROR(read_positive_int(doc, "temporal_patch_size", ctx, c.temporal_patch_size));
    MLXS_RETURN_IF_ERROR(read_positive_int(doc, "merge_size", ctx, c.merge_size));
    if (c.min_pixels > c.max_pixels) return bad(display_name, "min_pixels", "is above max_pixels");
  }
  return c;
}

core::Result<ProcessorConfig> load_processor_config(const std::string& model_dir) {
  MLXS_ASSIGN_OR_RETURN(auto doc,
                        core::read_json_file(model_dir + "/preprocessor_config.json",
                                             "preprocessor_config.json", kCode, 1u << 20));
  return parse_processor_config(doc, "preprocessor_config.json");
}

core::Status apply_model_config(ProcessorConfig& config, const Json& model_config) {
  if (!model_config.is_object()) return core::Status::ok();
  if (model_config.contains("vision_config") && model_config["vision_config"].is_object()) {
    MLXS_RETURN_IF_ERROR(read_positive_int(model_config["vision_config"], "patch_size",
                                           "config.json: vision_config", config.vision_patch_size));
  }
  MLXS_RETURN_IF_ERROR(read_positive_int(model_config, "mm_tokens_per_image", "config.json",
                                         config.mm_tokens_per_image));
  MLXS_ASSIGN_OR_RETURN(
      auto strategy,
      core::get_string(model_config, "vision_feature_select_strategy", "config.json", kCode));
  if (strategy) config.vision_feature_keeps_cls = *strategy == "full";
  return core::Status::ok();
}

}  // namespace mlxs::image
