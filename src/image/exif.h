#pragma once
// EXIF orientation: the one tag we read (from a JPEG's APP1 segment, a PNG's
// eXIf chunk or a WebP's EXIF chunk), and the eight transforms it names (what
// PIL.ImageOps.exif_transpose applies, which transformers' load_image calls
// before any processor sees the image).

#include <cstdint>
#include <span>

#include "image/image.h"

namespace mlxs::image {

// The Orientation tag (0x0112) of IFD0 in an APP1 payload that starts with
// "Exif\0\0"; 1 (upright) when absent, malformed or out of range. Every offset
// is bounds-checked against the payload.
int exif_orientation(std::span<const std::uint8_t> app1_payload);

// The same from EXIF data as PNG and WebP store it: the TIFF structure itself
// ("II*\0" / "MM\0*"), or, as some writers do, behind an "Exif\0\0" prefix.
int exif_orientation_tiff(std::span<const std::uint8_t> exif);

// Applies orientation 1..8 (others leave the image as it is).
RgbImage apply_orientation(RgbImage image, int orientation);

}  // namespace mlxs::image
