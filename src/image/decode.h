#pragma once
// Decoding PNG, JPEG, WebP and GIF (first frame) into RgbImage with Debian's
// libpng, libjpeg-turbo, libwebp and giflib. The format is sniffed from the
// magic bytes; every failure is InvalidParams with a message saying what is
// wrong, never a crash, an abort or a message printed by a library.

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"
#include "image/image.h"

namespace mlxs::image {

enum class ImageFormat : std::uint8_t { kUnknown, kPng, kJpeg, kWebp, kGif };

std::string_view format_name(ImageFormat format);

// From the first bytes only; kUnknown when no supported signature matches.
ImageFormat sniff_format(std::span<const std::uint8_t> bytes);

core::Result<RgbImage> decode_image(std::span<const std::uint8_t> bytes,
                                    const DecodeLimits& limits = {});

}  // namespace mlxs::image
