#include "image/preprocess.h"

#include <algorithm>
#include <cmath>

#include "image/resample.h"

namespace mlxs::image {
namespace {

using core::ErrorCode;

// The most pixels a resize may produce (about 200 MB of RGB).
constexpr std::int64_t kMaxResizedPixels = 64'000'000;

// transformers' get_resize_output_image_size(default_to_square=False): the
// short side becomes `size`, the long one int(size * long / short).
std::array<int, 2> shortest_edge_size(int height, int width, int size) {
  const int short_side = std::min(height, width);
  const int long_side = std::max(height, width);
  const int new_long = static_cast<int>(static_cast<double>(size) * long_side / short_side);
  return width <= height ? std::array<int, 2>{new_long, size} : std::array<int, 2>{size, new_long};
}

// Python's floor division (rounds toward -inf), which center_crop relies on.
int floor_div2(int v) {
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

// float32 rescale then normalize, in the order and precision numpy uses:
// float32(u8 * scale computed in float64), then (x - mean) / std in float32.
struct Normalizer {
  std::array<float, 3> mean{};
  std::array<float, 3> std{};
  double scale = 1.0;
  bool rescale = true;
  bool normalize = true;

  explicit Normalizer(const ProcessorConfig& c)
      : scale(c.rescale_factor), rescale(c.do_rescale), normalize(c.do_normalize) {
    for (int i = 0; i < 3; ++i) {
      mean[i] = static_cast<float>(c.mean[i]);
      std[i] = static_cast<float>(c.std[i]);
    }
  }
  float operator()(std::uint8_t v, int channel) const {
    float x = rescale ? static_cast<float>(static_cast<double>(v) * scale) : static_cast<float>(v);
    if (normalize) x = (x - mean[channel]) / std[channel];
    return x;
  }
};

core::Status check_config(const ProcessorConfig& c) {
  if (c.kind == ProcessorKind::kQwen2Vl &&
      (c.patch_size <= 0 || c.merge_size <= 0 || c.temporal_patch_size <= 0)) {
    return core::Status(ErrorCode::kInvalidParams, "image processor: bad patch sizes");
  }
  return core::Status::ok();
}

}  // namespace

core::Result<std::array<int, 2>> smart_resize(int height, int width, int factor,
                                              std::int64_t min_pixels, std::int64_t max_pixels) {
  if (height <= 0 || width <= 0 || factor <= 0) {
    return core::make_error(ErrorCode::kInvalidParams, "image: bad size {}x{}", width, height);
  }
  const double ratio = static_cast<double>(std::max(height, width)) / std::min(height, width);
  if (ratio > 200) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "image: aspect ratio {:.1f} is over 200 ({}x{})", ratio, width, height);
  }
  // Python's round() rounds halves to even, as nearbyint does by default.
  const double f = factor;
  double h_bar = std::nearbyint(height / f) * f;
  double w_bar = std::nearbyint(width / f) * f;
  const double area = static_cast<double>(static_cast<std::int64_t>(height) * width);
  if (h_bar * w_bar > static_cast<double>(max_pixels)) {
    const double beta = std::sqrt(area / static_cast<double>(max_pixels));
    h_bar = std::max(f, std::floor(height / beta / f) * f);
    w_bar = std::max(f, std::floor(width / beta / f) * f);
  } else if (h_bar * w_bar < static_cast<double>(min_pixels)) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / area);
    h_bar = std::ceil(height * beta / f) * f;
    w_bar = std::ceil(width * beta / f) * f;
  }
  if (h_bar < f || w_bar < f || h_bar > 1 << 20 || w_bar > 1 << 20) {
    return core::make_error(ErrorCode::kInvalidParams, "image: {}x{} cannot be resized for patches",
                            width, height);
  }
  return std::array<int, 2>{static_cast<int>(h_bar), static_cast<int>(w_bar)};
}

core::Result<std::array<int, 2>> processed_size(const ProcessorConfig& c, int height, int width) {
  MLXS_RETURN_IF_ERROR(check_config(c));
  if (height <= 0 || width <= 0) {
    return core::make_error(ErrorCode::kInvalidParams, "image: bad size {}x{}", width, height);
  }
  std::array<int, 2> size{height, width};
  switch (c.kind) {
    case ProcessorKind::kQwen2Vl: {
      const int factor = c.patch_size * c.merge_size;
      if (c.do_resize) return smart_resize(height, width, factor, c.min_pixels, c.max_pixels);
      if (height % factor != 0 || width % factor != 0) {
        return core::make_error(ErrorCode::kInvalidParams,
                                "image: {}x{} is not a multiple of {} and do_resize is off", width,
                                height, factor);
      }
      return size;
    }
    case ProcessorKind::kClip:
      if (c.do_resize) {
        size = c.shortest_edge > 0 ? shortest_edge_size(height, width, c.shortest_edge)
                                   : std::array<int, 2>{c.size_height, c.size_width};
        // The same refusal as preprocess(), so a count is never given for an
        // image that cannot be processed.
        if (static_cast<std::int64_t>(size[0]) * size[1] > kMaxResizedPixels) {
          return core::make_error(ErrorCode::kInvalidParams,
                                  "image: {}x{} would resize to {}x{}, over {} pixels (aspect "
                                  "ratio too extreme for this processor)",
                                  width, height, size[1], size[0], kMaxResizedPixels);
        }
      }
      if (c.do_center_crop) size = {c.crop_height, c.crop_width};
      break;
    case ProcessorKind::kSiglip:
      if (c.do_resize) size = {c.size_height, c.size_width};
      break;
  }
  if (size[0] <= 0 || size[1] <= 0) {
    return core::make_error(ErrorCode::kInvalidParams, "image: {}x{} resizes to nothing", width,
                            height);
  }
  return size;
}

core::Result<std::int64_t> image_token_count(const ProcessorConfig& c, int height, int width) {
  MLXS_ASSIGN_OR_RETURN(auto size, processed_size(c, height, width));
  switch (c.kind) {
    case ProcessorKind::kQwen2Vl: {
      const std::int64_t gh = size[0] / c.patch_size;
      const std::int64_t gw = size[1] / c.patch_size;
      return gh * gw / (static_cast<std::int64_t>(c.merge_size) * c.merge_size);
    }
    case ProcessorKind::kClip: {
      const std::int64_t p = std::max(c.vision_patch_size, 1);
      return (size[0] / p) * (size[1] / p) + (c.vision_feature_keeps_cls ? 1 : 0);
    }
    case ProcessorKind::kSiglip:
      break;
  }
  return static_cast<std::int64_t>(c.mm_tokens_per_image);
}

core::Result<PixelValues> preprocess(const ProcessorConfig& c, const RgbImage& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3) {
    return core::Status(ErrorCode::kInvalidParams, "image: empty or malformed pixel buffer");
  }
  MLXS_RETURN_IF_ERROR(check_config(c));
  const Normalizer norm(c);
  PixelValues out;

  // Resize first (every kind), then the kind's own layout.
  RgbImage resized;
  const RgbImage* src = &image;
  int rh = image.height;
  int rw = image.width;
  if (c.do_resize) {
    if (c.kind == ProcessorKind::kQwen2Vl) {
      MLXS_ASSIGN_OR_RETURN(
          auto s, smart_resize(image.height, image.width, c.patch_size * c.merge_size, c.min_pixels,
                               c.max_pixels));
      rh = s[0], rw = s[1];
    } else if (c.kind == ProcessorKind::kClip && c.shortest_edge > 0) {
      const auto s = shortest_edge_size(image.height, image.width, c.shortest_edge);
      rh = s[0], rw = s[1];
    } else {
      rh = c.size_height, rw = c.size_width;
    }
    // A thin strip resized by its short edge becomes enormous (1x16384 at
    // shortest edge 336 is 336x5.5M); PIL would try, we refuse.
    if (static_cast<std::int64_t>(rw) * rh > kMaxResizedPixels) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "image: {}x{} would resize to {}x{}, over {} pixels (aspect ratio "
                              "too extreme for this processor)",
                              image.width, image.height, rw, rh, kMaxResizedPixels);
    }
    MLXS_ASSIGN_OR_RETURN(resized, resize(image, rw, rh, c.resample));
    src = &resized;
  }

  if (c.kind == ProcessorKind::kQwen2Vl) {
    const int p = c.patch_size;
    const int m = c.merge_size;
    const int t = c.temporal_patch_size;
    if (rh % (p * m) != 0 || rw % (p * m) != 0) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "image: {}x{} is not a multiple of {} and do_resize is off", rw, rh,
                              p * m);
    }
    const int gh = rh / p;
    const int gw = rw / p;
    const std::int64_t patches = static_cast<std::int64_t>(gh) * gw;
    const std::int64_t row = 3LL * t * p * p;
    out.shape = {patches, row};
    out.grid_thw = {1, gh, gw};
    out.image_tokens = patches / (static_cast<std::int64_t>(m) * m);
    out.data.resize(static_cast<std::size_t>(patches * row));
    // Rows in merge order: merged block (bh, bw), then the m x m patches in
    // it; each row holds channel, then the t repeated frames, then the p x p
    // pixels (the one frame repeated to temporal_patch_size).
    float* dst = out.data.data();
    for (int bh = 0; bh < gh / m; ++bh) {
      for (int bw = 0; bw < gw / m; ++bw) {
        for (int mh = 0; mh < m; ++mh) {
          for (int mw = 0; mw < m; ++mw) {
            const int y0 = (bh * m + mh) * p;
            const int x0 = (bw * m + mw) * p;
            for (int ch = 0; ch < 3; ++ch) {
              float* frame0 = dst;
              for (int py = 0; py < p; ++py) {
                const std::uint8_t* line =
                    &src->pixels[(static_cast<std::size_t>(y0 + py) * rw + x0) * 3];
                for (int px = 0; px < p; ++px) *dst++ = norm(line[px * 3 + ch], ch);
              }
              for (int ti = 1; ti < t; ++ti) {
                dst = std::copy(frame0, frame0 + static_cast<std::ptrdiff_t>(p) * p, dst);
              }
            }
          }
        }
      }
    }
    return out;
  }

  // CLIP / SigLIP: optional center crop (zero-padded when the image is smaller,
  // as transformers' center_crop pads), then CHW.
  int oh = rh;
  int ow = rw;
  int top = 0;
  int left = 0;
  if (c.kind == ProcessorKind::kClip && c.do_center_crop) {
    oh = c.crop_height;
    ow = c.crop_width;
    top = floor_div2(rh - oh);
    left = floor_div2(rw - ow);
  }
  out.shape = {1, 3, oh, ow};
  out.data.resize(static_cast<std::size_t>(3) * oh * ow);
  for (int ch = 0; ch < 3; ++ch) {
    const float zero = norm(0, ch);
    float* plane = &out.data[static_cast<std::size_t>(ch) * oh * ow];
    for (int y = 0; y < oh; ++y) {
      const int sy = y + top;
      for (int x = 0; x < ow; ++x) {
        const int sx = x + left;
        plane[static_cast<std::size_t>(y) * ow + x] =
            sy >= 0 && sy < rh && sx >= 0 && sx < rw
                ? norm(src->pixels[(static_cast<std::size_t>(sy) * rw + sx) * 3 + ch], ch)
                : zero;
      }
    }
  }
  MLXS_ASSIGN_OR_RETURN(out.image_tokens, image_token_count(c, image.height, image.width));
  return out;
}

std::vector<CropBox> pan_and_scan_boxes(const ProcessorConfig& config, int height, int width) {
  if (!config.pan_and_scan || height <= 0 || width <= 0) return {};
  const bool landscape = width >= height;
  const int long_side = landscape ? width : height;
  const int short_side = landscape ? height : width;
  const double ratio = static_cast<double>(long_side) / short_side;
  if (ratio < config.pan_and_scan_min_ratio) return {};
  int n = static_cast<int>(std::floor(ratio + 0.5));  // half rounds up
  n = std::min(n, long_side / config.pan_and_scan_min_crop_size);
  n = std::min(std::max(2, n), config.pan_and_scan_max_crops);
  const int crop_long = (long_side + n - 1) / n;
  if (std::min(crop_long, short_side) < config.pan_and_scan_min_crop_size) return {};
  std::vector<CropBox> boxes;
  for (int i = 0; i < n; ++i) {
    const int at = i * crop_long;
    const int size = std::min(crop_long, long_side - at);
    if (size <= 0) break;  // (numpy would give an empty crop; n * crop_long covers the side)
    boxes.push_back(landscape ? CropBox{at, 0, size, height} : CropBox{0, at, width, size});
  }
  return boxes;
}

RgbImage crop(const RgbImage& image, const CropBox& box) {
  RgbImage out;
  out.width = box.width;
  out.height = box.height;
  out.pixels.resize(static_cast<std::size_t>(box.width) * box.height * 3);
  for (int y = 0; y < box.height; ++y) {
    const std::uint8_t* from = image.pixels.data() +
                               static_cast<std::size_t>(box.y + y) * image.stride() +
                               static_cast<std::size_t>(box.x) * 3;
    std::copy_n(from, out.stride(), out.pixels.data() + static_cast<std::size_t>(y) * out.stride());
  }
  return out;
}

}  // namespace mlxs::image
