#pragma once
// A decoded picture as every later stage wants it: 8-bit RGB, row-major,
// interleaved (R, G, B per pixel), alpha already composited on white.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mlxs::image {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // width * height * 3

  std::size_t stride() const { return static_cast<std::size_t>(width) * 3; }
};

// Bounds applied while decoding untrusted bytes. The pixel limit is checked from
// the header, before any pixel is decoded, so a small file that claims a huge
// canvas (a decompression bomb) costs nothing.
struct DecodeLimits {
  std::size_t max_bytes = 32u << 20;     // encoded input
  std::int64_t max_dimension = 16384;    // either side
  std::int64_t max_pixels = 40'000'000;  // width * height
};

}  // namespace mlxs::image
