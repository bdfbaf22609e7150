// WebP through libwebp's simple decoding API (still images; an animated file is
// refused with a message saying so). Alpha is composited on white.
#include <webp/decode.h>

#include <vector>

#include "image/codecs.h"

namespace mlxs::image::detail {

core::Result<RgbImage> decode_webp(std::span<const std::uint8_t> bytes,
                                   const DecodeLimits& limits) {
  WebPBitstreamFeatures features{};
  const VP8StatusCode probe = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (probe == VP8_STATUS_NOT_ENOUGH_DATA) return invalid("WebP", "truncated data");
  if (probe != VP8_STATUS_OK) return invalid("WebP", "corrupt header");
  if (features.has_animation != 0) return invalid("WebP", "animated WebP is not supported");
  MLXS_RETURN_IF_ERROR(check_dimensions("WebP", features.width, features.height, limits));

  const std::size_t n = static_cast<std::size_t>(features.width) * features.height;
  const int channels = features.has_alpha != 0 ? 4 : 3;
  std::vector<std::uint8_t> decoded(n * channels);
  const int stride = features.width * channels;
  const std::uint8_t* ok =
      channels == 4
          ? WebPDecodeRGBAInto(bytes.data(), bytes.size(), decoded.data(), decoded.size(), stride)
          : WebPDecodeRGBInto(bytes.data(), bytes.size(), decoded.data(), decoded.size(), stride);
  if (ok == nullptr) return invalid("WebP", "corrupt or truncated data");

  RgbImage out;
  out.width = features.width;
  out.height = features.height;
  if (channels == 3) {
    out.pixels = std::move(decoded);
    return out;
  }
  out.pixels.resize(n * 3);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = &decoded[i * 4];
    for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = over_white(p[c], p[3]);
  }
  return out;
}

}  // namespace mlxs::image::detail
