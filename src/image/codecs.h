#pragma once
// The per-format decoders behind decode_image (internal to image/). Each one
// checks the header's dimensions with check_dimensions before decoding pixels.

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"
#include "image/image.h"

namespace mlxs::image::detail {

core::Result<RgbImage> decode_png(std::span<const std::uint8_t> bytes, const DecodeLimits& limits);
core::Result<RgbImage> decode_jpeg(std::span<const std::uint8_t> bytes, const DecodeLimits& limits);
core::Result<RgbImage> decode_webp(std::span<const std::uint8_t> bytes, const DecodeLimits& limits);
core::Result<RgbImage> decode_gif(std::span<const std::uint8_t> bytes, const DecodeLimits& limits);

// Zero sides, a side over max_dimension and width*height over max_pixels
// (the decompression-bomb check) are InvalidParams naming the format.
core::Status check_dimensions(std::string_view format, std::int64_t width, std::int64_t height,
                              const DecodeLimits& limits);

core::Status invalid(std::string_view format, std::string_view what);

// Blends a straight-alpha channel onto white: c' = (c*a + 255*(255-a)) / 255,
// rounded, the result PIL gives for RGBA -> RGB over a white background.
inline std::uint8_t over_white(std::uint32_t c, std::uint32_t a) {
  return static_cast<std::uint8_t>((c * a + 255u * (255u - a) + 127u) / 255u);
}

}  // namespace mlxs::image::detail
