#pragma once
// Test images made at run time with the encoders of the same libraries the
// decoders use (libpng, libjpeg-turbo, libwebp, giflib), so no binary image is
// committed and every expected pixel is known.

#include <cstdint>
#include <string>
#include <vector>

namespace mlxs::image::testing {

using Bytes = std::vector<std::uint8_t>;

// libpng's color types and bit depths; `pixels` packed as PNG rows expect
// (16-bit samples big-endian). `palette` is RGB triples, `trns` the palette's
// alpha entries.
Bytes encode_png(int width, int height, int color_type, int bit_depth, const Bytes& pixels,
                 const Bytes& palette = {}, const Bytes& trns = {}, bool interlaced = false,
                 const Bytes& exif = {});

// A PNG that is only a signature and an IHDR claiming width x height (valid
// CRC), with no pixel data: for the header checks.
Bytes png_header_only(std::uint32_t width, std::uint32_t height);

// components 1 (gray), 3 (RGB) or 4 (CMYK as given, with or without the Adobe
// marker). `app1` is inserted verbatim as an APP1 segment when not empty.
Bytes encode_jpeg(int width, int height, int components, const Bytes& pixels, int quality = 100,
                  const Bytes& app1 = {}, bool adobe_marker = true);

// An APP1 payload "Exif\0\0" + a TIFF header + IFD0 holding one Orientation
// entry.
Bytes exif_app1(int orientation, bool little_endian);

// RGBA (lossless) or RGB (lossy) WebP.
Bytes encode_webp_rgba_lossless(int width, int height, const Bytes& rgba);
Bytes encode_webp_rgb(int width, int height, const Bytes& rgb, float quality = 90);
// The same WebP with an EXIF chunk added (libwebpmux).
Bytes add_webp_exif(const Bytes& webp, const Bytes& exif);
// An animated (lossless) WebP of the given RGBA frames, 100 ms apart.
Bytes encode_webp_animation(int width, int height, const std::vector<Bytes>& rgba_frames);

// A GIF89a with a global palette (RGB triples, a power-of-two count), one frame
// of indices at (left, top) of size fw x fh, and a transparent index (-1: none).
Bytes encode_gif(int width, int height, const Bytes& palette, int left, int top, int fw, int fh,
                 const Bytes& indices, int transparent = -1, bool interlaced = false);

}  // namespace mlxs::image::testing
