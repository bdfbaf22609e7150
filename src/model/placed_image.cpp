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

void fill_step_images(std::span<const tensor::SeqSlice> slices,
                      std::span<const std::span<const PlacedImage>> images,
                      std::span<const std::int32_t> positions, std::int64_t hidden, bool axes,
                      bool both_ways, StepImages& out) {
  out.rope_positions.clear();
  out.attend_until.clear();
  out.embeds.clear();
  bool any = false;
  for (const auto& imgs : images) any |= !imgs.empty();
  if (!any) return;
  const std::size_t T = positions.size();
  if (axes) out.rope_positions.resize(tensor::kRopeAxes * T);
  if (both_ways) out.attend_until.resize(T);
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const auto& slice = slices[k];
    const std::span<const PlacedImage> imgs = images[k];
    for (std::int32_t i = 0; i < slice.token_count; ++i) {
      const auto t = static_cast<std::size_t>(slice.token_begin + i);
      const std::int32_t index = positions[t];
      for (int a = 0; a < tensor::kRopeAxes && axes; ++a) {
        out.rope_positions[static_cast<std::size_t>(a) * T + t] = mrope_position(imgs, index, a);
      }
      if (both_ways) out.attend_until[t] = attend_until(imgs, index);
    }
    const std::int32_t first = slice.context_len - slice.token_count;
    for (const auto& img : imgs) {
      const std::int32_t lo = std::max(img.begin, first);
      const std::int32_t hi = std::min(img.begin + img.rows, slice.context_len);
      if (lo >= hi) continue;
      out.embeds.push_back(
          tensor::EmbedRows{slice.token_begin + (lo - first), hi - lo,
                            img.features + static_cast<std::size_t>(lo - img.begin) *
                                               static_cast<std::size_t>(hidden)});
    }
  }
}

}  // namespace mlxs::model
