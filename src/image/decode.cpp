#include "image/decode.h"

#include <algorithm>
#include <cstring>

#include "image/codecs.h"

namespace mlxs::image {

namespace detail {

core::Status invalid(std::string_view format, std::string_view what) {
  return core::make_error(core::ErrorCode::kInvalidParams, "{} image: {}", format, what);
}

core::Status check_dimensions(std::string_view format, std::int64_t width, std::int64_t height,
                              const DecodeLimits& limits) {
  if (width <= 0 || height <= 0) {
    return core::make_error(core::ErrorCode::kInvalidParams, "{} image: zero dimensions ({}x{})",
                            format, width, height);
  }
  if (width > limits.max_dimension || height > limits.max_dimension) {
    return core::make_error(core::ErrorCode::kInvalidParams,
                            "{} image: dimensions {}x{} exceed the limit of {} per side", format,
                            width, height, limits.max_dimension);
  }
  if (width * height > limits.max_pixels) {
    return core::make_error(
        core::ErrorCode::kInvalidParams,
        "{} image: {}x{} is {} pixels, over the limit of {} (decompression bomb?)", format, width,
        height, width * height, limits.max_pixels);
  }
  return core::Status::ok();
}

}  // namespace detail

std::string_view format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kGif:
      return "GIF";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

ImageFormat sniff_format(std::span<const std::uint8_t> bytes) {
  auto starts_with = [&](std::size_t at, std::string_view magic) {
    return bytes.size() >= at + magic.size() &&
           std::memcmp(bytes.data() + at, magic.data(), magic.size()) == 0;
  };
  if (starts_with(0, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  if (starts_with(0, "\xff\xd8\xff")) return ImageFormat::kJpeg;
  if (starts_with(0, "RIFF") && starts_with(8, "WEBP")) return ImageFormat::kWebp;
  if (starts_with(0, "GIF87a") || starts_with(0, "GIF89a")) return ImageFormat::kGif;
  return ImageFormat::kUnknown;
}

core::Result<RgbImage> decode_image(std::span<const std::uint8_t> bytes,
                                    const DecodeLimits& limits) {
  if (bytes.empty()) {
    return core::Status(core::ErrorCode::kInvalidParams, "image: no data");
  }
  if (bytes.size() > limits.max_bytes) {
    return core::make_error(core::ErrorCode::kInvalidParams,
                            "image: {} bytes, over the limit of {}", bytes.size(),
                            limits.max_bytes);
  }
  switch (sniff_format(bytes)) {
    case ImageFormat::kPng:
      return detail::decode_png(bytes, limits);
    case ImageFormat::kJpeg:
      return detail::decode_jpeg(bytes, limits);
    case ImageFormat::kWebp:
      return detail::decode_webp(bytes, limits);
    case ImageFormat::kGif:
      return detail::decode_gif(bytes, limits);
    case ImageFormat::kUnknown:
      break;
  }
  return core::Status(core::ErrorCode::kInvalidParams,
                      "image: unsupported format (expected PNG, JPEG, WebP or GIF)");
}

}  // namespace mlxs::image
