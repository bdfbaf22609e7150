#pragma once
// The image processor a model ships in preprocessor_config.json, reduced to
// what the three processor families we serve read. Unknown keys are ignored
// (as transformers does); a known key of the wrong type or value is an error.

#include <array>
#include <cstdint>
#include <string>

#include "core/json_util.h"
#include "core/status.h"
#include "image/resample.h"

namespace mlxs::image {

enum class ProcessorKind : std::uint8_t {
  kClip,     // CLIPImageProcessor (LLaVA): shortest edge, center crop
  kQwen2Vl,  // Qwen2VLImageProcessor (Qwen2-VL, Qwen2.5-VL): smart resize, patches
  kSiglip,   // Gemma3ImageProcessor / SiglipImageProcessor: fixed size
};

struct ProcessorConfig {
  ProcessorKind kind = ProcessorKind::kClip;
  std::string type_name;  // image_processor_type as written
  bool do_resize = true;
  bool do_center_crop = false;
  bool do_rescale = true;
  bool do_normalize = true;
  Resample resample = Resample::kBicubic;
  double rescale_factor = 1.0 / 255.0;
  std::array<double, 3> mean{0.48145466, 0.4578275, 0.40821073};
  std::array<double, 3> std{0.26862954, 0.26130258, 0.27577711};
  // CLIP: size.shortest_edge (or a fixed size.height/width) and crop_size.
  int shortest_edge = 0;
  int size_height = 0;
  int size_width = 0;
  int crop_height = 0;
  int crop_width = 0;
  // Qwen2-VL.
  std::int64_t min_pixels = 56 * 56;
  std::int64_t max_pixels = 28 * 28 * 1280;
  int patch_size = 14;
  int temporal_patch_size = 2;
  int merge_size = 2;
  // Image tokens the language model sees per image, where the processor alone
  // does not say: LLaVA's vision patch size (config.json vision_config) and
  // Gemma 3's mm_tokens_per_image. apply_model_config fills them.
  int vision_patch_size = 14;
  int mm_tokens_per_image = 256;
  bool vision_feature_keeps_cls = false;  // LLaVA's vision_feature_select_strategy "full"
  // Gemma 3's pan and scan (off unless the folder turns it on): an image
  // whose aspect ratio reaches min_ratio is also cut into 2..max_crops crops
  // of at least min_crop_size pixels a side, each seen as an image of its own.
  bool pan_and_scan = false;
  int pan_and_scan_min_crop_size = 256;
  int pan_and_scan_max_crops = 4;
  double pan_and_scan_min_ratio = 1.2;
};

// Errors are ModelLoadError naming the file and key (a model folder's problem, found
// when it loads), Unsupported for processors or options we do not implement.
core::Result<ProcessorConfig> parse_processor_config(const core::Json& doc,
                                                     std::string_view display_name);
core::Result<ProcessorConfig> load_processor_config(const std::string& model_dir);

// Reads the token-count fields above from a model's config.json document.
core::Status apply_model_config(ProcessorConfig& config, const core::Json& model_config);

}  // namespace mlxs::image
