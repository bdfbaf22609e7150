#include "test_images.h"

#include <cstdio>  // jpeglib.h needs FILE

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>
#include <webp/mux.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace mlxs::image::testing {
namespace {

void append_u32be(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void write_png_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + length);
}

void flush_png(png_structp /*png*/) {}

int write_gif_bytes(GifFileType* gif, const GifByteType* data, int length) {
  auto* out = static_cast<Bytes*>(gif->UserData);
  out->insert(out->end(), data, data + length);
  return length;
}

}  // namespace

Bytes encode_png(int width, int height, int color_type, int bit_depth, const Bytes& pixels,
                 const Bytes& palette, const Bytes& trns, bool interlaced, const Bytes& exif) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png)) != 0) {  // NOLINT(cert-err52-cpp)
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("png encode failed");
  }
  png_set_write_fn(png, &out, write_png_bytes, flush_png);
  png_set_IHDR(png, info, width, height, bit_depth, color_type,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> colors;
  if (!palette.empty()) {
    for (std::size_t i = 0; i + 2 < palette.size(); i += 3) {
      colors.push_back({palette[i], palette[i + 1], palette[i + 2]});
    }
    png_set_PLTE(png, info, colors.data(), static_cast<int>(colors.size()));
  }
  if (!trns.empty()) png_set_tRNS(png, info, trns.data(), static_cast<int>(trns.size()), nullptr);
  if (!exif.empty()) {
    png_set_eXIf_1(png, info, static_cast<png_uint_32>(exif.size()),
                   const_cast<png_bytep>(exif.data()));  // NOLINT: libpng's API
  }
  png_write_info(png, info);
  const std::size_t rowbytes = pixels.size() / height;
  std::vector<png_bytep> rows(height);
  for (int y = 0; y < height; ++y) {
    rows[y] = const_cast<png_bytep>(pixels.data() + rowbytes * y);  // NOLINT: libpng's API
  }
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

Bytes png_header_only(std::uint32_t width, std::uint32_t height) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes chunk = {'I', 'H', 'D', 'R'};
  append_u32be(chunk, width);
  append_u32be(chunk, height);
  chunk.insert(chunk.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, no interlace
  append_u32be(out, 13);
  out.insert(out.end(), chunk.begin(), chunk.end());
  append_u32be(out, static_cast<std::uint32_t>(crc32(0, chunk.data(), chunk.size())));
  return out;
}

Bytes encode_jpeg(int width, int height, int components, const Bytes& pixels, int quality,
                  const Bytes& app1, bool adobe_marker) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr err{};
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = components;
  cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  // No chroma subsampling: flat colors survive within a level or two.
  for (int c = 0; c < cinfo.num_components; ++c) {
    cinfo.comp_info[c].h_samp_factor = 1;
    cinfo.comp_info[c].v_samp_factor = 1;
  }
  if (components == 4) cinfo.write_Adobe_marker = adobe_marker ? TRUE : FALSE;
  jpeg_start_compress(&cinfo, TRUE);
  if (!app1.empty()) {
    jpeg_write_marker(&cinfo, JPEG_APP0 + 1, app1.data(), static_cast<unsigned>(app1.size()));
  }
  const std::size_t row = static_cast<std::size_t>(width) * components;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW line = const_cast<JSAMPROW>(pixels.data() + row * cinfo.next_scanline);  // NOLINT
    jpeg_write_scanlines(&cinfo, &line, 1);
  }
  jpeg_finish_compress(&cinfo);
  Bytes out(buffer, buffer + size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);  // NOLINT(cppcoreguidelines-no-malloc): jpeg_mem_dest's buffer
  return out;
}

Bytes exif_app1(int orientation, bool little_endian) {
  Bytes out = {'E', 'x', 'i', 'f', 0, 0};
  auto u16 = [&](std::uint32_t v) {
    if (little_endian) {
      out.push_back(v & 0xff), out.push_back((v >> 8) & 0xff);
    } else {
      out.push_back((v >> 8) & 0xff), out.push_back(v & 0xff);
    }
  };
  auto u32 = [&](std::uint32_t v) {
    if (little_endian) {
      u16(v & 0xffff), u16(v >> 16);
    } else {
      u16(v >> 16), u16(v & 0xffff);
    }
  };
  out.push_back(little_endian ? 'I' : 'M');
  out.push_back(little_endian ? 'I' : 'M');
  u16(42);
  u32(8);  // IFD0 right after the header
  u16(2);  // two entries: one other tag first, then Orientation
  u16(0x010f), u16(2), u32(4), out.insert(out.end(), {'c', 'a', 'm', 0});  // Make, ASCII, inline
  u16(0x0112), u16(3), u32(1), u16(static_cast<std::uint32_t>(orientation)), u16(0);
  u32(0);  // no next IFD
  return out;
}

Bytes encode_webp_rgba_lossless(int width, int height, const Bytes& rgba) {
  std::uint8_t* data = nullptr;
  const std::size_t size = WebPEncodeLosslessRGBA(rgba.data(), width, height, width * 4, &data);
  Bytes out(data, data + size);
  WebPFree(data);
  return out;
}

Bytes encode_webp_rgb(int width, int height, const Bytes& rgb, float quality) {
  std::uint8_t* data = nullptr;
  const std::size_t size = WebPEncodeRGB(rgb.data(), width, height, width * 3, quality, &data);
  Bytes out(data, data + size);
  WebPFree(data);
  return out;
}

Bytes add_webp_exif(const Bytes& webp, const Bytes& exif) {
  const WebPData image{webp.data(), webp.size()};
  WebPMux* mux = WebPMuxCreate(&image, 1);
  const WebPData chunk{exif.data(), exif.size()};
  WebPMuxSetChunk(mux, "EXIF", &chunk, 1);
  WebPData assembled;
  WebPDataInit(&assembled);
  WebPMuxAssemble(mux, &assembled);
  Bytes out(assembled.bytes, assembled.bytes + assembled.size);
  WebPDataClear(&assembled);
  WebPMuxDelete(mux);
  return out;
}

Bytes encode_webp_animation(int width, int height, const std::vector<Bytes>& rgba_frames) {
  WebPAnimEncoderOptions options;
  WebPAnimEncoderOptionsInit(&options);
  WebPAnimEncoder* enc = WebPAnimEncoderNew(width, height, &options);
  WebPConfig config;
  WebPConfigInit(&config);
  config.lossless = 1;
  int timestamp = 0;
  for (const Bytes& rgba : rgba_frames) {
    WebPPicture pic;
    WebPPictureInit(&pic);
    pic.use_argb = 1;
    pic.width = width;
    pic.height = height;
    WebPPictureImportRGBA(&pic, rgba.data(), width * 4);
    WebPAnimEncoderAdd(enc, &pic, timestamp, &config);
    WebPPictureFree(&pic);
    timestamp += 100;
  }
  WebPAnimEncoderAdd(enc, nullptr, timestamp, nullptr);
  WebPData data;
  WebPDataInit(&data);
  WebPAnimEncoderAssemble(enc, &data);
  Bytes out(data.bytes, data.bytes + data.size);
  WebPDataClear(&data);
  WebPAnimEncoderDelete(enc);
  return out;
}

Bytes encode_gif(int width, int height, const Bytes& palette, int left, int top, int fw, int fh,
                 const Bytes& indices, int transparent, bool interlaced) {
  Bytes out;
  int error = 0;
  GifFileType* gif = EGifOpen(&out, write_gif_bytes, &error);
  if (gif == nullptr) throw std::runtime_error("EGifOpen failed");
  const int colors = static_cast<int>(palette.size() / 3);
  ColorMapObject* map = GifMakeMapObject(colors, nullptr);
  for (int i = 0; i < colors; ++i) {
    map->Colors[i] = {palette[i * 3], palette[i * 3 + 1], palette[i * 3 + 2]};
  }
  EGifSetGifVersion(gif, true);
  EGifPutScreenDesc(gif, width, height, 8, 0, map);
  if (transparent >= 0) {
    GraphicsControlBlock gcb{};
    gcb.TransparentColor = transparent;
    gcb.DisposalMode = DISPOSAL_UNSPECIFIED;
    GifByteType ext[4];
    const std::size_t n = EGifGCBToExtension(&gcb, ext);
    EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(n), ext);
  }
  EGifPutImageDesc(gif, left, top, fw, fh, interlaced, nullptr);
  // With the interlace flag set, rows go out in the four passes' order.
  std::vector<int> order;
  if (interlaced) {
    for (int pass = 0; pass < 4; ++pass) {
      constexpr int kStart[] = {0, 4, 2, 1};
      constexpr int kStep[] = {8, 8, 4, 2};
      for (int y = kStart[pass]; y < fh; y += kStep[pass]) order.push_back(y);
    }
  } else {
    for (int y = 0; y < fh; ++y) order.push_back(y);
  }
  for (int y : order) {
    EGifPutLine(gif, const_cast<GifPixelType*>(&indices[static_cast<std::size_t>(y) * fw]),
                fw);  // NOLINT
  }
  EGifCloseFile(gif, &error);
  GifFreeMapObject(map);
  return out;
}

}  // namespace mlxs::image::testing
