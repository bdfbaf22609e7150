// WebP through libwebp: still images with the simple decoding API, animated
// ones through libwebpdemux's animation decoder, first frame only (as GIF).
// Alpha is composited on white.
#include <webp/decode.h>
#include <webp/demux.h>

#include <vector>

#include "image/codecs.h"
#include "image/exif.h"

namespace mlxs::image::detail {
namespace {

RgbImage on_white(const std::uint8_t* rgba, int width, int height) {
  RgbImage out;
  out.width = width;
  out.height = height;
  const std::size_t n = static_cast<std::size_t>(width) * height;
  out.pixels.resize(n * 3);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = &rgba[i * 4];
    for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = over_white(p[c], p[3]);
  }
  return out;
}

struct AnimDecoder {
  WebPAnimDecoder* dec = nullptr;
  AnimDecoder() = default;
  AnimDecoder(const AnimDecoder&) = delete;
  AnimDecoder& operator=(const AnimDecoder&) = delete;
  ~AnimDecoder() {
    if (dec != nullptr) WebPAnimDecoderDelete(dec);
  }
};

core::Result<RgbImage> first_frame(std::span<const std::uint8_t> bytes, int width, int height) {
  WebPAnimDecoderOptions options{};
  if (WebPAnimDecoderOptionsInit(&options) == 0) return invalid("WebP", "decoder could not start");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData data{bytes.data(), bytes.size()};
  AnimDecoder d;
  d.dec = WebPAnimDecoderNew(&data, &options);
  if (d.dec == nullptr) return invalid("WebP", "corrupt or truncated animation");
  WebPAnimInfo info{};
  if (WebPAnimDecoderGetInfo(d.dec, &info) == 0 || info.frame_count == 0 ||
      static_cast<int>(info.canvas_width) != width ||
      static_cast<int>(info.canvas_height) != height) {
    return invalid("WebP", "corrupt animation header");
  }
  std::uint8_t* canvas = nullptr;
  int timestamp = 0;
  if (WebPAnimDecoderGetNext(d.dec, &canvas, &timestamp) == 0 || canvas == nullptr) {
    return invalid("WebP", "corrupt or truncated first frame");
  }
  return on_white(canvas, width, height);
}

// The orientation in an EXIF chunk (extended files only); 1 without one.
int webp_orientation(std::span<const std::uint8_t> bytes) {
  const WebPData data{bytes.data(), bytes.size()};
  WebPDemuxer* demux = WebPDemux(&data);
  if (demux == nullptr) return 1;
  int orientation = 1;
  WebPChunkIterator chunk{};
  if ((WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & EXIF_FLAG) != 0 &&
      WebPDemuxGetChunk(demux, "EXIF", 1, &chunk) != 0) {
    orientation = exif_orientation_tiff({chunk.chunk.bytes, chunk.chunk.size});
    WebPDemuxReleaseChunkIterator(&chunk);
  }
  WebPDemuxDelete(demux);
  return orientation;
}

core::Result<RgbImage> decode_webp_pixels(std::span<const std::uint8_t> bytes,
                                          const DecodeLimits& limits);

}  // namespace

core::Result<RgbImage> decode_webp(std::span<const std::uint8_t> bytes,
                                   const DecodeLimits& limits) {
  MLXS_ASSIGN_OR_RETURN(RgbImage image, decode_webp_pixels(bytes, limits));
  return apply_orientation(std::move(image), webp_orientation(bytes));
}

namespace {

core::Result<RgbImage> decode_webp_pixels(std::span<const std::uint8_t> bytes,
                                          const DecodeLimits& limits) {
  WebPBitstreamFeatures features{};
  const VP8StatusCode probe = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (probe == VP8_STATUS_NOT_ENOUGH_DATA) return invalid("WebP", "truncated data");
  if (probe != VP8_STATUS_OK) return invalid("WebP", "corrupt header");
  // For an animated file these are the canvas's (VP8X) dimensions, checked
  // before the animation decoder allocates that canvas.
  MLXS_RETURN_IF_ERROR(check_dimensions("WebP", features.width, features.height, limits));
  if (features.has_animation != 0) return first_frame(bytes, features.width, features.height);

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
  return on_white(decoded.data(), features.width, features.height);
}

}  // namespace
}  // namespace mlxs::image::detail
