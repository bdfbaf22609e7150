#pragma once
// Resizing exactly as Pillow's Image.resize does for 8-bit RGB images
// (libImaging/Resample.c): separable convolution, horizontal pass first, with
// the filter's support widened by the downscale factor (antialiasing),
// per-output-pixel normalized weights rounded to 22-bit fixed point, and a
// rounding clip to uint8 after each pass. Bit-exact with PIL is the goal: the
// Hugging Face processors' PIL path is the reference we match.

#include <cstdint>

#include "core/status.h"
#include "image/image.h"

namespace mlxs::image {

// PIL's resampling filter numbers, as preprocessor_config.json's "resample".
enum class Resample : std::uint8_t {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5,
};

// InvalidParams for a zero or negative size; kNearest is Unsupported (PIL
// resizes with it by a different algorithm that no processor we serve uses).
core::Result<RgbImage> resize(const RgbImage& image, int width, int height, Resample filter);

}  // namespace mlxs::image
