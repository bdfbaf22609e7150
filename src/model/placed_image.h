#pragma once
// An image placed in a sequence, and what a step needs of it: its rows of
// features in place of its placeholder tokens, its M-RoPE positions
// (Qwen2-VL: time, height and width axes over the merged grid, text
// resuming after the largest) and its bidirectional span (Gemma 3). Pure
// functions of the placements, shared by the Runner and the engine.

#include <cstdint>
#include <span>
#include <vector>

#include "tensor/backend.h"

namespace mlxs::model {

struct PlacedImage {
  std::int32_t begin = 0;  // sequence index of its first placeholder token
  std::int32_t rows = 0;   // placeholder tokens it fills
  // The merged patch grid (rows = grid_h * grid_w) for M-RoPE; 0 elsewhere.
  std::int32_t grid_h = 0;
  std::int32_t grid_w = 0;
  const float* features = nullptr;  // host [rows, hidden], alive while the sequence runs
  // Of the image's content: KV blocks holding its rows are shared only
  // between prompts with the same image (prefix caching).
  std::uint64_t hash = 0;
};

// What a step carries for the images of its sequences; buffers reused from
// step to step.
struct StepImages {
  std::vector<std::int32_t> rope_positions;  // tensor::kRopeAxes x T, or empty
  std::vector<std::int32_t> attend_until;    // T, or empty
  std::vector<tensor::EmbedRows> embeds;
};

// Fills `out` for a step: slice k's rows belong to a sequence holding
// images[k]; `positions` are the rows' sequence indices. `axes`: the model's
// rotary has M-RoPE axes; `both_ways`: image rows attend to their whole
// image. Leaves everything empty when no slice has an image.
void fill_step_images(std::span<const tensor::SeqSlice> slices,
                      std::span<const std::span<const PlacedImage>> images,
                      std::span<const std::int32_t> positions, std::int64_t hidden, bool axes,
                      bool both_ways, StepImages& out);

// The rotary position of sequence index `index` on M-RoPE axis `axis` (0
// time, 1 height, 2 width); `images` sorted by begin, not overlapping.
std::int32_t mrope_position(std::span<const PlacedImage> images, std::int32_t index, int axis);

// The end (exclusive) of what index `index` attends to when images attend
// both ways: its image's end, else index + 1.
std::int32_t attend_until(std::span<const PlacedImage> images, std::int32_t index);

// How many of `want` tokens from sequence index `first` a step may take
// without cutting an image whose rows must be computed together: fewer
// when an image would be cut (0 when one starts at `first` and does not
// fit).
std::int32_t take_whole_images(std::span<const PlacedImage> images, std::int32_t first,
                               std::int32_t want);

}  // namespace mlxs::model
