#pragma once
// From a decoded image to the vision tower's input, as the Hugging Face image
// processors' PIL path computes it (the fixtures' pixel_values_pil): resize with
// PIL's filters, center crop, rescale and normalize in float32 as numpy does,
// and for Qwen2-VL the temporal repeat and the patch flattening in merge order.

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "image/image.h"
#include "image/processor_config.h"

namespace mlxs::image {

struct PixelValues {
  // CLIP / SigLIP: [1, 3, H, W]. Qwen2-VL: [t*h*w patches, C*T*P*P].
  std::vector<std::int64_t> shape;
  std::vector<float> data;
  // Qwen2-VL's image_grid_thw (in patches); zeros for the others.
  std::array<std::int64_t, 3> grid_thw{};
  // Placeholder tokens this image becomes in the prompt.
  std::int64_t image_tokens = 0;
};

// Qwen2-VL's smart_resize: (height, width) as multiples of `factor` with the
// pixel count within [min_pixels, max_pixels]; InvalidParams when the aspect
// ratio is over 200 (as transformers refuses it).
core::Result<std::array<int, 2>> smart_resize(int height, int width, int factor,
                                              std::int64_t min_pixels, std::int64_t max_pixels);

// The processed size (height, width) before any patching.
core::Result<std::array<int, 2>> processed_size(const ProcessorConfig& config, int height,
                                                int width);

// Image tokens for an image of this size (what prompt assembly expands the
// placeholder to), without preprocessing it.
core::Result<std::int64_t> image_token_count(const ProcessorConfig& config, int height, int width);

core::Result<PixelValues> preprocess(const ProcessorConfig& config, const RgbImage& image);

// Gemma 3's pan and scan, as transformers cuts: an image whose long side is
// at least pan_and_scan_min_ratio times its short side is cut along the long
// side into round(ratio) crops (at most long / min_crop_size, clamped to
// [2, max_crops]), each ceil(long / n) wide and the last clipped at the edge;
// none when a crop would be under min_crop_size, or pan and scan is off.
struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
};
std::vector<CropBox> pan_and_scan_boxes(const ProcessorConfig& config, int height, int width);
RgbImage crop(const RgbImage& image, const CropBox& box);

}  // namespace mlxs::image
