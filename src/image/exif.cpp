#include "image/exif.h"

#include <cstring>

namespace mlxs::image {
namespace {

class TiffReader {
 public:
  TiffReader(std::span<const std::uint8_t> tiff, bool little) : tiff_(tiff), little_(little) {}
  bool u16(std::size_t at, std::uint32_t& out) const {
    if (at > tiff_.size() || tiff_.size() - at < 2) return false;
    const std::uint8_t* p = tiff_.data() + at;
    out = little_ ? (p[0] | (p[1] << 8)) : ((p[0] << 8) | p[1]);
    return true;
  }
  bool u32(std::size_t at, std::uint32_t& out) const {
    if (at > tiff_.size() || tiff_.size() - at < 4) return false;
    const std::uint8_t* p = tiff_.data() + at;
    out =
        little_
            ? (static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
               (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24))
            : ((static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
               (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]));
    return true;
  }

 private:
  std::span<const std::uint8_t> tiff_;
  bool little_;
};

// The Orientation entry of IFD0 in a TIFF structure; 1 when absent or bad.
int orientation_in_tiff(std::span<const std::uint8_t> tiff) {
  if (tiff.size() < 8) return 1;
  bool little = false;
  if (tiff[0] == 'I' && tiff[1] == 'I') {
    little = true;
  } else if (!(tiff[0] == 'M' && tiff[1] == 'M')) {
    return 1;
  }
  const TiffReader r(tiff, little);
  std::uint32_t magic = 0;
  std::uint32_t ifd0 = 0;
  std::uint32_t count = 0;
  if (!r.u16(2, magic) || magic != 42 || !r.u32(4, ifd0) || !r.u16(ifd0, count)) return 1;
  // Each entry is 12 bytes: tag, type, count, value (a SHORT sits in the first
  // two bytes of the value field).
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t entry = static_cast<std::size_t>(ifd0) + 2 + static_cast<std::size_t>(i) * 12;
    std::uint32_t tag = 0;
    std::uint32_t type = 0;
    std::uint32_t n = 0;
    std::uint32_t value = 0;
    if (!r.u16(entry, tag) || !r.u16(entry + 2, type) || !r.u32(entry + 4, n)) return 1;
    if (tag != 0x0112) continue;
    constexpr std::uint32_t kShort = 3;
    if (type != kShort || n != 1 || !r.u16(entry + 8, value)) return 1;
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

}  // namespace

int exif_orientation(std::span<const std::uint8_t> app1_payload) {
  constexpr std::uint8_t kExifHeader[] = {'E', 'x', 'i', 'f', 0, 0};
  if (app1_payload.size() < sizeof(kExifHeader) ||
      std::memcmp(app1_payload.data(), kExifHeader, sizeof(kExifHeader)) != 0) {
    return 1;
  }
  return orientation_in_tiff(app1_payload.subspan(sizeof(kExifHeader)));
}

int exif_orientation_tiff(std::span<const std::uint8_t> exif) {
  constexpr std::uint8_t kExifHeader[] = {'E', 'x', 'i', 'f', 0, 0};
  if (exif.size() >= sizeof(kExifHeader) &&
      std::memcmp(exif.data(), kExifHeader, sizeof(kExifHeader)) == 0) {
    return exif_orientation(exif);
  }
  return orientation_in_tiff(exif);
}

RgbImage apply_orientation(RgbImage image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width;
  const int h = image.height;
  // Orientations 5..8 swap the axes.
  const bool transpose = orientation >= 5;
  RgbImage out;
  out.width = transpose ? h : w;
  out.height = transpose ? w : h;
  out.pixels.resize(image.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      // (sx, sy): the stored pixel shown at (x, y) once the image is upright.
      int sx = 0;
      int sy = 0;
      switch (orientation) {
        case 2:  // mirrored horizontally
          sx = w - 1 - x, sy = y;
          break;
        case 3:  // rotated 180
          sx = w - 1 - x, sy = h - 1 - y;
          break;
        case 4:  // mirrored vertically
          sx = x, sy = h - 1 - y;
          break;
        case 5:  // transposed
          sx = y, sy = x;
          break;
        case 6:  // stored rotated 90 counter-clockwise: turn it clockwise
          sx = y, sy = h - 1 - x;
          break;
        case 7:  // transversed
          sx = w - 1 - y, sy = h - 1 - x;
          break;
        default:  // 8: stored rotated 90 clockwise: turn it counter-clockwise
          sx = w - 1 - y, sy = x;
          break;
      }
      const std::size_t src = (static_cast<std::size_t>(sy) * w + sx) * 3;
      const std::size_t dst = (static_cast<std::size_t>(y) * out.width + x) * 3;
      std::memcpy(&out.pixels[dst], &image.pixels[src], 3);
    }
  }
  return out;
}

}  // namespace mlxs::image
