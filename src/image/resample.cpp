#include "image/resample.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace mlxs::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double box_filter(double x) {
  return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}

double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= std::numbers::pi;
  // Pillow writes these constants as floats; keep their float values.
  return std::sin(x) / x * (0.54F + 0.46F * std::cos(x));
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= std::numbers::pi;
  return std::sin(x) / x;
}

double lanczos_filter(double x) {
  return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filter_for(Resample r) {
  switch (r) {
    case Resample::kBox:
      return {box_filter, 0.5};
    case Resample::kBilinear:
      return {bilinear_filter, 1.0};
    case Resample::kHamming:
      return {hamming_filter, 1.0};
    case Resample::kBicubic:
      return {bicubic_filter, 2.0};
    case Resample::kLanczos:
      return {lanczos_filter, 3.0};
    case Resample::kNearest:
      break;
  }
  return {bicubic_filter, 2.0};
}

// Weights of one axis: for each output index, the first input index and the
// fixed-point weights of the inputs it reads.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first;             // xmin per output
  std::vector<int> count;             // inputs used per output
  std::vector<std::int32_t> weights;  // out_size * ksize
};

Coeffs precompute(int in_size, int out_size, const Filter& filter) {
  // The box is (0, in_size): Image.resize without a box argument.
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = filter.support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  const double inv_filterscale = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    // Truncation toward zero of x + 0.5, then clamping: Pillow's rounding of
    // these bounds, which lround would not reproduce for negative values.
    // NOLINTNEXTLINE(bugprone-incorrect-roundings)
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    // NOLINTNEXTLINE(bugprone-incorrect-roundings)
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.fn((x + xmin - center + 0.5) * inv_filterscale);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<std::size_t>(xx) * c.ksize + x] = static_cast<std::int32_t>(
          v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = std::max(xmax, 0);
  }
  return c;
}

std::uint8_t clip8(std::int32_t v) {
  // Arithmetic shift then clamp: Pillow's clip8 lookup table.
  return static_cast<std::uint8_t>(std::clamp(v >> kPrecisionBits, 0, 255));
}

// Rows [row0, row0 + rows) of `in`, resampled along x to `out_w` columns.
std::vector<std::uint8_t> horizontal(const RgbImage& in, int row0, int rows, int out_w,
                                     const Coeffs& c) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(out_w) * rows * 3);
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* line = &in.pixels[static_cast<std::size_t>(row0 + y) * in.stride()];
    std::uint8_t* dst = &out[static_cast<std::size_t>(y) * out_w * 3];
    for (int xx = 0; xx < out_w; ++xx) {
      const std::int32_t* k = &c.weights[static_cast<std::size_t>(xx) * c.ksize];
      const std::uint8_t* src = line + static_cast<std::size_t>(c.first[xx]) * 3;
      std::int32_t s0 = 1 << (kPrecisionBits - 1);
      std::int32_t s1 = s0;
      std::int32_t s2 = s0;
      for (int x = 0; x < c.count[xx]; ++x) {
        s0 += src[x * 3 + 0] * k[x];
        s1 += src[x * 3 + 1] * k[x];
        s2 += src[x * 3 + 2] * k[x];
      }
      dst[xx * 3 + 0] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

// `in` holds rows starting at source row `row0`; resampled along y.
std::vector<std::uint8_t> vertical(const std::uint8_t* in, int width, int row0, int out_h,
                                   const Coeffs& c) {
  const std::size_t stride = static_cast<std::size_t>(width) * 3;
  std::vector<std::uint8_t> out(stride * out_h);
  std::vector<std::int32_t> acc(stride);
  for (int yy = 0; yy < out_h; ++yy) {
    const std::int32_t* k = &c.weights[static_cast<std::size_t>(yy) * c.ksize];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    // Row by row over the inputs (the same sums as Pillow's pixel-major loop,
    // integer addition being exact), so the inner loop runs along memory.
    for (int y = 0; y < c.count[yy]; ++y) {
      const std::uint8_t* src = in + static_cast<std::size_t>(c.first[yy] - row0 + y) * stride;
      const std::int32_t w = k[y];
      for (std::size_t i = 0; i < stride; ++i) acc[i] += src[i] * w;
    }
    std::uint8_t* dst = &out[static_cast<std::size_t>(yy) * stride];
    for (std::size_t i = 0; i < stride; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

}  // namespace

core::Result<RgbImage> resize(const RgbImage& image, int width, int height, Resample filter) {
  if (width <= 0 || height <= 0 || image.width <= 0 || image.height <= 0) {
    return core::make_error(core::ErrorCode::kInvalidParams, "resize: bad size {}x{} -> {}x{}",
                            image.width, image.height, width, height);
  }
  if (filter == Resample::kNearest) {
    return core::Status(core::ErrorCode::kUnsupported, "resize: nearest-neighbour resampling");
  }
  if (width == image.width && height == image.height) return image;
  const Filter f = filter_for(filter);
  const bool need_h = width != image.width;
  const bool need_v = height != image.height;
  const Coeffs cv = precompute(image.height, height, f);

  RgbImage out;
  out.width = width;
  out.height = height;
  if (!need_h) {
    out.pixels = vertical(image.pixels.data(), image.width, 0, height, cv);
    return out;
  }
  // Only the source rows the vertical pass will read go through the first pass.
  const int first_row = need_v ? cv.first.front() : 0;
  const int last_row = need_v ? cv.first.back() + cv.count.back() : image.height;
  const Coeffs ch = precompute(image.width, width, f);
  std::vector<std::uint8_t> tmp = horizontal(image, first_row, last_row - first_row, width, ch);
  if (!need_v) {
    out.pixels = std::move(tmp);
    return out;
  }
  out.pixels = vertical(tmp.data(), width, first_row, height, cv);
  return out;
}

}  // namespace mlxs::image
