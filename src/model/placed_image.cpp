#include "model/placed_image.h"

#include <algorithm>

namespace mlxs::model {

std::int32_t mrope_position(std::span<const PlacedImage> images, std::int32_t index, int axis) {
  std::int32_t offset = 0;  // where text positions stand relative to indices
  for (const auto& img : images) {
    if (index < img.begin) break;
    if (index < img.begin + img.rows) {
      const std::int32_t start = img.begin + offset;
      const std::int32_t local = index - img.begin;
      const std::int32_t w = std::max(img.grid_w, 1);
      if (axis == 0) return start;  // one frame: time 0
      return start + (axis == 1 ? local / w : local % w);
    }
    // The image spans as many positions as its longest side.
    offset += std::max({img.grid_h, img.grid_w, 1}) - img.rows;
  }
  return index + offset;
}

std::int32_t attend_until(std::span<const PlacedImage> images, std::int32_t index) {
  for (const auto& img : images) {
    if (index >= img.begin && index < img.begin + img.rows) return img.begin + img.rows;
  }
  return index + 1;
}

std::int32_t take_whole_images(std::span<const PlacedImage> images, std::int32_t first,
                               std::int32_t want) {
  const std::int32_t end = first + want;
  for (const auto& img : images) {
    const std::int32_t img_end = img.begin + img.rows;
    // Cut when the image starts before the end and ends after it.
    if (img.begin < end && img_end > end && img_end > first) {
      return std::max(0, img.begin - first);
    }
  }
  return want;
}

}  // namespace mlxs::model
