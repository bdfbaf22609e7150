// Decoding good images of every format and feature, and refusing bad ones with
// InvalidParams naming the problem (issue 10: one test per bad-input kind).
#include "image/decode.h"
#include "image/exif.h"

#include <png.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "test_images.h"

namespace mlxs::image {
namespace {

using testing::Bytes;

// A small picture with a different color per pixel.
Bytes gradient_rgb(int w, int h) {
  Bytes px(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = &px[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(x * 255 / std::max(w - 1, 1));
      p[1] = static_cast<std::uint8_t>(y * 255 / std::max(h - 1, 1));
      p[2] = static_cast<std::uint8_t>((x * 7 + y * 13) & 0xff);
    }
  }
  return px;
}

RgbImage decode_ok(const Bytes& bytes, const DecodeLimits& limits = {}) {
  auto r = decode_image(bytes, limits);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(r).value() : RgbImage{};
}

void expect_invalid(const Bytes& bytes, std::string_view needle, const DecodeLimits& limits = {}) {
  auto r = decode_image(bytes, limits);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), core::ErrorCode::kInvalidParams);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

std::array<int, 3> pixel(const RgbImage& im, int x, int y) {
  const std::uint8_t* p = &im.pixels[(static_cast<std::size_t>(y) * im.width + x) * 3];
  return {p[0], p[1], p[2]};
}

void expect_near(std::array<int, 3> got, std::array<int, 3> want, int tolerance) {
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c], want[c], tolerance) << "channel " << c;
}

Bytes cut(Bytes b, double fraction) {
  b.resize(static_cast<std::size_t>(b.size() * fraction));
  return b;
}

// ------------------------------------------------------------ sniffing

TEST(ImageSniff, MagicBytesNotNames) {
  const Bytes rgb = gradient_rgb(4, 4);
  EXPECT_EQ(sniff_format(testing::encode_png(4, 4, PNG_COLOR_TYPE_RGB, 8, rgb)), ImageFormat::kPng);
  EXPECT_EQ(sniff_format(testing::encode_jpeg(4, 4, 3, rgb)), ImageFormat::kJpeg);
  EXPECT_EQ(sniff_format(testing::encode_webp_rgb(4, 4, rgb)), ImageFormat::kWebp);
  EXPECT_EQ(sniff_format(testing::encode_gif(2, 1, {0, 0, 0, 255, 255, 255}, 0, 0, 2, 1, {0, 1})),
            ImageFormat::kGif);
  EXPECT_EQ(sniff_format(Bytes{'B', 'M', 0, 0}), ImageFormat::kUnknown);
}

// ------------------------------------------------------------ PNG

TEST(ImagePng, RgbExact) {
  const Bytes rgb = gradient_rgb(13, 7);
  const RgbImage im = decode_ok(testing::encode_png(13, 7, PNG_COLOR_TYPE_RGB, 8, rgb));
  EXPECT_EQ(im.width, 13);
  EXPECT_EQ(im.height, 7);
  EXPECT_EQ(im.pixels, rgb);
}

TEST(ImagePng, InterlacedExact) {
  const Bytes rgb = gradient_rgb(17, 11);
  EXPECT_EQ(decode_ok(testing::encode_png(17, 11, PNG_COLOR_TYPE_RGB, 8, rgb, {}, {}, true)).pixels,
            rgb);
}

TEST(ImagePng, Palette) {
  const Bytes palette = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
  const Bytes indices = {0, 1, 2, 3, 3, 2, 1, 0};
  const RgbImage im =
      decode_ok(testing::encode_png(4, 2, PNG_COLOR_TYPE_PALETTE, 8, indices, palette));
  expect_near(pixel(im, 0, 0), {255, 0, 0}, 0);
  expect_near(pixel(im, 3, 0), {10, 20, 30}, 0);
  expect_near(pixel(im, 1, 1), {0, 0, 255}, 0);
}

TEST(ImagePng, PaletteWithTransparencyOnWhite) {
  const Bytes palette = {255, 0, 0, 0, 0, 255};
  const Bytes trns = {0, 128};  // index 0 fully transparent, index 1 half
  const RgbImage im =
      decode_ok(testing::encode_png(2, 1, PNG_COLOR_TYPE_PALETTE, 8, {0, 1}, palette, trns));
  expect_near(pixel(im, 0, 0), {255, 255, 255}, 0);
  expect_near(pixel(im, 1, 0), {127, 127, 255}, 1);
}

TEST(ImagePng, GrayAndLowBitGray) {
  const RgbImage gray = decode_ok(testing::encode_png(3, 1, PNG_COLOR_TYPE_GRAY, 8, {0, 100, 255}));
  expect_near(pixel(gray, 1, 0), {100, 100, 100}, 0);
  // 1-bit gray: 0b10100000 -> white, black, white.
  const RgbImage bits = decode_ok(testing::encode_png(3, 1, PNG_COLOR_TYPE_GRAY, 1, {0xa0}));
  expect_near(pixel(bits, 0, 0), {255, 255, 255}, 0);
  expect_near(pixel(bits, 1, 0), {0, 0, 0}, 0);
}

TEST(ImagePng, GrayAlphaOnWhite) {
  const RgbImage im =
      decode_ok(testing::encode_png(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {0, 0, 0, 255}));
  expect_near(pixel(im, 0, 0), {255, 255, 255}, 0);  // transparent black shows white
  expect_near(pixel(im, 1, 0), {0, 0, 0}, 0);
}

TEST(ImagePng, RgbaOnWhite) {
  const Bytes rgba = {255, 0, 0, 255, 255, 0, 0, 0, 0, 0, 255, 51};
  const RgbImage im = decode_ok(testing::encode_png(3, 1, PNG_COLOR_TYPE_RGBA, 8, rgba));
  expect_near(pixel(im, 0, 0), {255, 0, 0}, 0);
  expect_near(pixel(im, 1, 0), {255, 255, 255}, 0);
  expect_near(pixel(im, 2, 0), {204, 204, 255}, 0);  // 20% blue over white
}

TEST(ImagePng, SixteenBitKeepsHighByte) {
  const Bytes rgb16 = {0x12, 0x34, 0xab, 0xcd, 0xff, 0xff, 0x00, 0x01, 0x80, 0x00, 0x7f, 0xff};
  const RgbImage im = decode_ok(testing::encode_png(2, 1, PNG_COLOR_TYPE_RGB, 16, rgb16));
  expect_near(pixel(im, 0, 0), {0x12, 0xab, 0xff}, 0);
  expect_near(pixel(im, 1, 0), {0x00, 0x80, 0x7f}, 0);
  const RgbImage gray = decode_ok(testing::encode_png(1, 1, PNG_COLOR_TYPE_GRAY, 16, {0xc8, 0x10}));
  expect_near(pixel(gray, 0, 0), {0xc8, 0xc8, 0xc8}, 0);
}

// ------------------------------------------------------------ JPEG

TEST(ImageJpeg, RgbClose) {
  const Bytes rgb = gradient_rgb(16, 16);
  const RgbImage im = decode_ok(testing::encode_jpeg(16, 16, 3, rgb));
  ASSERT_EQ(im.width, 16);
  ASSERT_EQ(im.height, 16);
  int worst = 0;
  for (std::size_t i = 0; i < rgb.size(); ++i)
    worst = std::max(worst, std::abs(rgb[i] - im.pixels[i]));
  EXPECT_LE(worst, 8);
}

TEST(ImageJpeg, Gray) {
  Bytes gray(8 * 8, 90);
  const RgbImage im = decode_ok(testing::encode_jpeg(8, 8, 1, gray));
  expect_near(pixel(im, 3, 3), {90, 90, 90}, 1);
}

// CMYK inks (c, m, y, k) = (0, 255, 255, 0) are red. Adobe (Photoshop) files
// store the inks inverted, and PIL reads any file with the Adobe marker so.
TEST(ImageJpeg, CmykAdobeInverted) {
  Bytes inverted;
  for (int i = 0; i < 64; ++i) inverted.insert(inverted.end(), {255, 0, 0, 255});
  const RgbImage im = decode_ok(testing::encode_jpeg(8, 8, 4, inverted, 100, {}, true));
  expect_near(pixel(im, 4, 4), {255, 0, 0}, 2);
}

TEST(ImageJpeg, CmykPlain) {
  Bytes plain;  // (0, 0, 255, 128): yellow at half black
  for (int i = 0; i < 64; ++i) plain.insert(plain.end(), {0, 0, 255, 128});
  const RgbImage im = decode_ok(testing::encode_jpeg(8, 8, 4, plain, 100, {}, false));
  expect_near(pixel(im, 4, 4), {127, 127, 0}, 2);
}

// Six flat 8x8 blocks (3 across, 2 down) in distinct colors, stored as a camera
// would for each orientation; decoding must give the upright picture.
class ImageExif : public ::testing::TestWithParam<std::tuple<int, bool>> {};

constexpr std::array<std::array<int, 3>, 6> kBlockColors = {
    {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}, {0, 255, 255}, {255, 0, 255}}};

RgbImage blocks() {
  RgbImage im;
  im.width = 24;
  im.height = 16;
  im.pixels.resize(24 * 16 * 3);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 24; ++x) {
      const auto& c = kBlockColors[(y / 8) * 3 + x / 8];
      for (int k = 0; k < 3; ++k) im.pixels[(y * 24 + x) * 3 + k] = static_cast<std::uint8_t>(c[k]);
    }
  }
  return im;
}

// Elementary moves, composed below into the eight EXIF orientations.
RgbImage flip_h(const RgbImage& in) {
  RgbImage out = in;
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int k = 0; k < 3; ++k)
        out.pixels[(y * in.width + x) * 3 + k] =
            in.pixels[(y * in.width + in.width - 1 - x) * 3 + k];
  return out;
}
RgbImage flip_v(const RgbImage& in) {
  RgbImage out = in;
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int k = 0; k < 3; ++k)
        out.pixels[(y * in.width + x) * 3 + k] =
            in.pixels[((in.height - 1 - y) * in.width + x) * 3 + k];
  return out;
}
RgbImage transpose(const RgbImage& in) {
  RgbImage out;
  out.width = in.height;
  out.height = in.width;
  out.pixels.resize(in.pixels.size());
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int k = 0; k < 3; ++k)
        out.pixels[(y * out.width + x) * 3 + k] = in.pixels[(x * in.width + y) * 3 + k];
  return out;
}

// What exif_transpose does to the stored image for each orientation (PIL:
// 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
// 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90), and its inverse, which makes the
// stored image from the upright one.
RgbImage upright_from_stored(const RgbImage& s, int o) {
  switch (o) {
    case 2:
      return flip_h(s);
    case 3:
      return flip_v(flip_h(s));
    case 4:
      return flip_v(s);
    case 5:
      return transpose(s);
    case 6:
      return flip_h(transpose(s));  // a quarter turn clockwise
    case 7:
      return flip_v(flip_h(transpose(s)));
    case 8:
      return flip_v(transpose(s));  // a quarter turn counter-clockwise
    default:
      return s;
  }
}
RgbImage stored_from_upright(const RgbImage& u, int o) {
  switch (o) {
    case 6:
      return upright_from_stored(u, 8);
    case 8:
      return upright_from_stored(u, 6);
    default:
      return upright_from_stored(u, o);  // the others are their own inverse
  }
}

TEST_P(ImageExif, OrientationApplied) {
  const auto [orientation, little] = GetParam();
  const RgbImage upright = blocks();
  const RgbImage stored = stored_from_upright(upright, orientation);
  ASSERT_EQ(upright_from_stored(stored, orientation).pixels,
            upright.pixels);  // the test's own check
  const Bytes jpeg = testing::encode_jpeg(stored.width, stored.height, 3, stored.pixels, 100,
                                          testing::exif_app1(orientation, little));
  const RgbImage im = decode_ok(jpeg);
  ASSERT_EQ(im.width, 24);
  ASSERT_EQ(im.height, 16);
  for (int by = 0; by < 2; ++by) {
    for (int bx = 0; bx < 3; ++bx) {
      expect_near(pixel(im, bx * 8 + 4, by * 8 + 4), kBlockColors[by * 3 + bx], 3);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllEight, ImageExif,
                         ::testing::Combine(::testing::Range(1, 9), ::testing::Bool()));

// PIL reads EXIF from PNG's eXIf chunk and WebP's EXIF chunk as well, and
// exif_transpose applies it; so do we (lossless here, so exact).
TEST(ImageExifChunks, PngAndWebpOrientation) {
  const RgbImage upright = blocks();
  for (int orientation : {3, 6, 8}) {
    SCOPED_TRACE(orientation);
    const RgbImage stored = stored_from_upright(upright, orientation);
    Bytes tiff = testing::exif_app1(orientation, orientation != 6);
    tiff.erase(tiff.begin(), tiff.begin() + 6);  // PNG and WebP store the TIFF part only
    const Bytes png = testing::encode_png(stored.width, stored.height, PNG_COLOR_TYPE_RGB, 8,
                                          stored.pixels, {}, {}, false, tiff);
    EXPECT_EQ(decode_ok(png).pixels, upright.pixels);
    Bytes rgba;
    for (std::size_t i = 0; i < stored.pixels.size(); i += 3) {
      rgba.insert(rgba.end(), {stored.pixels[i], stored.pixels[i + 1], stored.pixels[i + 2], 255});
    }
    const Bytes webp = testing::add_webp_exif(
        testing::encode_webp_rgba_lossless(stored.width, stored.height, rgba), tiff);
    const RgbImage im = decode_ok(webp);
    EXPECT_EQ(im.width, 24);
    EXPECT_EQ(im.pixels, upright.pixels);
  }
}

TEST(ImageExifParse, MalformedIsUpright) {
  Bytes app1 = testing::exif_app1(6, true);
  EXPECT_EQ(exif_orientation(app1), 6);
  EXPECT_EQ(exif_orientation(testing::exif_app1(3, false)), 3);
  // Cut anywhere before the orientation's value ends (the last 6 bytes are
  // padding and the next-IFD pointer): never read past the end, never a wrong
  // orientation.
  for (std::size_t n = 0; n < app1.size() - 6; ++n) {
    EXPECT_EQ(exif_orientation({app1.data(), n}), 1) << n;
  }
  Bytes far = app1;
  far[10] = 0xff;  // IFD0 offset far outside
  EXPECT_EQ(exif_orientation(far), 1);
  EXPECT_EQ(exif_orientation(testing::exif_app1(9, true)), 1);
  const Bytes tiff(app1.begin() + 6, app1.end());
  EXPECT_EQ(exif_orientation_tiff(tiff), 6);
  EXPECT_EQ(exif_orientation_tiff(app1), 6);  // with the "Exif\0\0" prefix some writers keep
  EXPECT_EQ(exif_orientation_tiff({tiff.data(), 7}), 1);
}

// ------------------------------------------------------------ WebP

TEST(ImageWebp, LossyRgb) {
  Bytes rgb(16 * 16 * 3);
  for (std::size_t i = 0; i < rgb.size(); i += 3) rgb[i] = 200, rgb[i + 1] = 40, rgb[i + 2] = 90;
  const RgbImage im = decode_ok(testing::encode_webp_rgb(16, 16, rgb, 95));
  ASSERT_EQ(im.width, 16);
  expect_near(pixel(im, 8, 8), {200, 40, 90}, 6);
}

TEST(ImageWebp, AlphaOnWhite) {
  const Bytes rgba = {255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 51, 10, 20, 30, 255};
  const RgbImage im = decode_ok(testing::encode_webp_rgba_lossless(2, 2, rgba));
  expect_near(pixel(im, 0, 0), {255, 0, 0}, 0);
  expect_near(pixel(im, 1, 0), {255, 255, 255}, 0);
  expect_near(pixel(im, 0, 1), {204, 204, 255}, 0);
  expect_near(pixel(im, 1, 1), {10, 20, 30}, 0);
}

// The first frame of an animation, as for GIF; transparency on white.
TEST(ImageWebp, AnimatedFirstFrame) {
  const Bytes first = {255, 0, 0, 255, 0, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 255};
  const Bytes second = {9, 9, 9, 255, 9, 9, 9, 255, 9, 9, 9, 255, 9, 9, 9, 255};
  const Bytes webp = testing::encode_webp_animation(2, 2, {first, second});
  ASSERT_FALSE(webp.empty());
  const RgbImage im = decode_ok(webp);
  ASSERT_EQ(im.width, 2);
  expect_near(pixel(im, 0, 0), {255, 0, 0}, 0);
  expect_near(pixel(im, 1, 0), {255, 255, 255}, 0);
  expect_near(pixel(im, 0, 1), {0, 255, 0}, 0);
  expect_near(pixel(im, 1, 1), {0, 0, 255}, 0);
  DecodeLimits small;
  small.max_pixels = 3;
  expect_invalid(webp, "decompression bomb", small);
  expect_invalid(cut(webp, 0.7), "WebP image");
}

// ------------------------------------------------------------ GIF

const Bytes kGifPalette = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255};

TEST(ImageGif, PaletteAndTransparency) {
  const Bytes idx = {0, 1, 2, 3, 3, 2, 1, 0};
  const RgbImage im = decode_ok(testing::encode_gif(4, 2, kGifPalette, 0, 0, 4, 2, idx, 2));
  expect_near(pixel(im, 0, 0), {0, 0, 0}, 0);
  expect_near(pixel(im, 1, 0), {255, 0, 0}, 0);
  expect_near(pixel(im, 2, 0), {255, 255, 255}, 0);  // transparent index 2: white
  expect_near(pixel(im, 3, 0), {0, 0, 255}, 0);
}

TEST(ImageGif, FrameSmallerThanCanvas) {
  const RgbImage im = decode_ok(testing::encode_gif(4, 4, kGifPalette, 1, 2, 2, 1, Bytes{1, 3}));
  expect_near(pixel(im, 0, 0), {255, 255, 255}, 0);
  expect_near(pixel(im, 1, 2), {255, 0, 0}, 0);
  expect_near(pixel(im, 2, 2), {0, 0, 255}, 0);
}

TEST(ImageGif, Interlaced) {
  Bytes idx(3 * 11);
  for (int y = 0; y < 11; ++y)
    for (int x = 0; x < 3; ++x) idx[y * 3 + x] = static_cast<std::uint8_t>(y % 4);
  const RgbImage im =
      decode_ok(testing::encode_gif(3, 11, kGifPalette, 0, 0, 3, 11, idx, -1, true));
  for (int y = 0; y < 11; ++y) {
    const std::uint8_t* c = &kGifPalette[(y % 4) * 3];
    expect_near(pixel(im, 1, y), {c[0], c[1], c[2]}, 0);
  }
}

// ------------------------------------------------------------ bad input

TEST(ImageBad, TruncatedPng) {
  expect_invalid(cut(testing::encode_png(32, 32, PNG_COLOR_TYPE_RGB, 8, gradient_rgb(32, 32)), 0.6),
                 "PNG image: corrupt or truncated");
}

TEST(ImageBad, TruncatedJpeg) {
  expect_invalid(cut(testing::encode_jpeg(32, 32, 3, gradient_rgb(32, 32)), 0.6),
                 "JPEG image: corrupt or truncated");
}

TEST(ImageBad, TruncatedWebp) {
  expect_invalid(cut(testing::encode_webp_rgb(32, 32, gradient_rgb(32, 32)), 0.6), "WebP image");
}

TEST(ImageBad, TruncatedGif) {
  Bytes idx(32 * 32);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::uint8_t>((i * 7) % 4);
  expect_invalid(cut(testing::encode_gif(32, 32, kGifPalette, 0, 0, 32, 32, idx), 0.5),
                 "GIF image: corrupt or truncated");
}

TEST(ImageBad, CorruptPngCrc) {
  Bytes png = testing::encode_png(8, 8, PNG_COLOR_TYPE_RGB, 8, gradient_rgb(8, 8));
  png[30] ^= 0x01;  // IHDR's CRC
  expect_invalid(png, "PNG image: corrupt");
}

TEST(ImageBad, CorruptJpegHeader) {
  Bytes jpeg = testing::encode_jpeg(8, 8, 3, gradient_rgb(8, 8));
  for (std::size_t i = 4; i < 40 && i < jpeg.size(); ++i) jpeg[i] = 0xee;
  expect_invalid(jpeg, "JPEG image: corrupt");
}

TEST(ImageBad, CorruptWebpAndGif) {
  Bytes webp = testing::encode_webp_rgb(8, 8, gradient_rgb(8, 8));
  for (std::size_t i = 12; i < webp.size(); ++i) webp[i] = 0x5a;
  expect_invalid(webp, "WebP image");
  Bytes gif = testing::encode_gif(2, 1, kGifPalette, 0, 0, 2, 1, {0, 1});
  gif[gif.size() - 6] = 0x7f;  // the frame's LZW data
  gif.resize(gif.size() - 1);  // and no trailer
  auto r = decode_image(gif);
  if (!r.is_ok()) {
    EXPECT_EQ(r.status().code(), core::ErrorCode::kInvalidParams);
  }
}

TEST(ImageBad, ZeroDimensions) {
  expect_invalid(testing::png_header_only(0, 10), "PNG image: zero dimensions");
  Bytes gif = testing::encode_gif(2, 1, kGifPalette, 0, 0, 2, 1, {0, 1});
  gif[6] = gif[7] = 0;  // logical screen width 0
  expect_invalid(gif, "GIF image: zero dimensions");
}

TEST(ImageBad, AbsurdDimensions) {
  expect_invalid(testing::png_header_only(100000, 2), "exceed the limit of 16384 per side");
  Bytes gif = testing::encode_gif(2, 1, kGifPalette, 0, 0, 2, 1, {0, 1});
  gif[6] = gif[7] = 0xff;  // 65535 wide
  expect_invalid(gif, "exceed the limit");
}

// A header claiming more pixels than allowed is refused before any pixel is
// decoded: the PNG below has no pixel data at all, so reaching the decoder
// would have said "truncated" instead.
TEST(ImageBad, DecompressionBomb) {
  expect_invalid(testing::png_header_only(8000, 8000), "over the limit of 40000000");
  DecodeLimits small;
  small.max_pixels = 100;
  expect_invalid(testing::encode_jpeg(16, 16, 3, gradient_rgb(16, 16)), "decompression bomb",
                 small);
  expect_invalid(testing::encode_webp_rgb(16, 16, gradient_rgb(16, 16)), "decompression bomb",
                 small);
  Bytes idx(16 * 16, 1);
  expect_invalid(testing::encode_gif(16, 16, kGifPalette, 0, 0, 16, 16, idx), "decompression bomb",
                 small);
}

TEST(ImageBad, UnsupportedFormat) {
  expect_invalid(Bytes{'B', 'M', 1, 2, 3, 4}, "unsupported format");
  expect_invalid(Bytes{'h', 'e', 'l', 'l', 'o'}, "unsupported format");
  expect_invalid(Bytes{}, "no data");
}

TEST(ImageBad, OversizedInput) {
  DecodeLimits small;
  small.max_bytes = 10;
  expect_invalid(testing::encode_png(4, 4, PNG_COLOR_TYPE_RGB, 8, gradient_rgb(4, 4)),
                 "over the limit of 10", small);
}

}  // namespace
}  // namespace mlxs::image
