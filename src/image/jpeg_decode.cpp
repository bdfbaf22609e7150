// JPEG through libjpeg-turbo. Its default error manager prints and calls
// exit(); ours records the message and longjmps back to decode_jpeg's setjmp.
// Warnings are silent except "premature end of file": libjpeg would pad a
// truncated file with gray, and we refuse it instead (as PIL does). All memory
// that outlives a longjmp is in JpegContext, built before the setjmp.
#include <cstdio>  // jpeglib.h needs FILE

#include <jerror.h>
#include <jpeglib.h>

#include <csetjmp>
#include <vector>

#include "image/codecs.h"
#include "image/exif.h"

namespace mlxs::image::detail {
namespace {

// A progressive file can hold thousands of tiny scans, each costing a pass over
// the coefficient buffer: a CPU bomb in a few kilobytes. Real files use < 20.
constexpr int kMaxScans = 200;

struct JpegContext {
  jpeg_error_mgr err{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump{};
  char message[JMSG_LENGTH_MAX] = {};
  std::vector<std::uint8_t> pixels;  // out_color_components per pixel
};

JpegContext* context_of(j_common_ptr cinfo) {
  // err is the first member, so the error manager's address is the context's.
  return reinterpret_cast<JpegContext*>(
      cinfo->err);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}

[[noreturn]] void on_error(j_common_ptr cinfo) {
  JpegContext* ctx = context_of(cinfo);
  (*cinfo->err->format_message)(cinfo, ctx->message);
  std::longjmp(ctx->jump, 1);  // NOLINT(cert-err52-cpp): libjpeg's error model
}

void on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    JpegContext* ctx = context_of(cinfo);
    std::snprintf(ctx->message, sizeof(ctx->message), "truncated data");
    std::longjmp(ctx->jump, 1);  // NOLINT(cert-err52-cpp)
  }
}

void on_output(j_common_ptr /*cinfo*/) {}  // never print

void on_progress(j_common_ptr cinfo) {
  if (cinfo->is_decompressor == 0) return;
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);  // NOLINT
  if (d->input_scan_number > kMaxScans) {
    JpegContext* ctx = context_of(cinfo);
    std::snprintf(ctx->message, sizeof(ctx->message), "more than %d progressive scans", kMaxScans);
    std::longjmp(ctx->jump, 1);  // NOLINT(cert-err52-cpp)
  }
}

struct Decompressor {
  jpeg_decompress_struct cinfo{};
  bool created = false;
  ~Decompressor() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

// The libjpeg calls, in steps whose setjmp frames hold only C calls (no C++
// object is built or changed between a setjmp and a longjmp to it). Each
// returns false after a libjpeg error, with the message in ctx.
bool read_header(Decompressor& d, JpegContext& ctx, std::span<const std::uint8_t> bytes) {
  jpeg_decompress_struct& cinfo = d.cinfo;
  if (setjmp(ctx.jump) != 0) return false;  // NOLINT(cert-err52-cpp): libjpeg's error model
  jpeg_create_decompress(&cinfo);
  d.created = true;
  cinfo.progress = &ctx.progress;
  cinfo.mem->max_memory_to_use = 1024L << 20;
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
  if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
    std::snprintf(ctx.message, sizeof(ctx.message), "no image in the data");
    return false;
  }
  return true;
}

// Gray stays gray, CMYK and YCCK come out as CMYK (converted by us), the rest
// as RGB.
bool start(Decompressor& d, JpegContext& ctx) {
  jpeg_decompress_struct& cinfo = d.cinfo;
  if (setjmp(ctx.jump) != 0) return false;  // NOLINT(cert-err52-cpp)
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo.out_color_space = JCS_CMYK;
      break;
    case JCS_UNKNOWN:
    case JCS_RGB:
    case JCS_YCbCr:
    case JCS_EXT_RGB:
    case JCS_EXT_RGBX:
    case JCS_EXT_BGR:
    case JCS_EXT_BGRX:
    case JCS_EXT_XBGR:
    case JCS_EXT_XRGB:
    case JCS_EXT_RGBA:
    case JCS_EXT_BGRA:
    case JCS_EXT_ABGR:
    case JCS_EXT_ARGB:
    case JCS_RGB565:
      cinfo.out_color_space = JCS_RGB;
      break;
  }
  jpeg_start_decompress(&cinfo);
  return true;
}

bool read_rows(Decompressor& d, JpegContext& ctx, std::uint8_t* pixels, std::size_t row) {
  jpeg_decompress_struct& cinfo = d.cinfo;
  if (setjmp(ctx.jump) != 0) return false;  // NOLINT(cert-err52-cpp)
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW line = pixels + row * cinfo.output_scanline;
    if (jpeg_read_scanlines(&cinfo, &line, 1) != 1) {
      std::snprintf(ctx.message, sizeof(ctx.message), "truncated data");
      return false;
    }
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

// PIL's CMYK -> RGB: r = (255 - c) * (255 - k) / 255 with rounding. Adobe's
// (Photoshop's) files store the inks inverted, so there the stored values
// already are 255 - c and 255 - k.
std::uint8_t cmyk_channel(std::uint32_t ink, std::uint32_t black, bool inverted) {
  const std::uint32_t a = inverted ? ink : 255u - ink;
  const std::uint32_t b = inverted ? black : 255u - black;
  const std::uint32_t t = a * b + 128u;
  return static_cast<std::uint8_t>((t + (t >> 8)) >> 8);
}

}  // namespace

core::Result<RgbImage> decode_jpeg(std::span<const std::uint8_t> bytes,
                                   const DecodeLimits& limits) {
  JpegContext ctx;
  Decompressor d;
  d.cinfo.err = jpeg_std_error(&ctx.err);
  ctx.err.error_exit = on_error;
  ctx.err.emit_message = on_message;
  ctx.err.output_message = on_output;
  ctx.progress.progress_monitor = on_progress;
  auto corrupt = [&] {
    return core::make_error(core::ErrorCode::kInvalidParams,
                            "JPEG image: corrupt or truncated ({})", ctx.message);
  };
  if (!read_header(d, ctx, bytes)) return corrupt();
  MLXS_RETURN_IF_ERROR(check_dimensions("JPEG", d.cinfo.image_width, d.cinfo.image_height, limits));
  int orientation = 1;
  for (jpeg_saved_marker_ptr m = d.cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) {
      orientation = exif_orientation({m->data, m->data_length});
      if (orientation != 1) break;
    }
  }
  const bool adobe_cmyk = d.cinfo.saw_Adobe_marker != 0;
  if (!start(d, ctx)) return corrupt();
  const int comps = d.cinfo.output_components;
  if ((comps != 1 && comps != 3 && comps != 4) || d.cinfo.output_width != d.cinfo.image_width ||
      d.cinfo.output_height != d.cinfo.image_height) {
    return invalid("JPEG", "unexpected output layout");
  }
  const std::size_t row = static_cast<std::size_t>(d.cinfo.output_width) * comps;
  ctx.pixels.resize(row * d.cinfo.output_height);
  if (!read_rows(d, ctx, ctx.pixels.data(), row)) return corrupt();

  RgbImage out;
  out.width = static_cast<int>(d.cinfo.output_width);
  out.height = static_cast<int>(d.cinfo.output_height);
  const std::size_t n = static_cast<std::size_t>(out.width) * out.height;
  if (comps == 3) {
    out.pixels = std::move(ctx.pixels);
  } else {
    out.pixels.resize(n * 3);
    for (std::size_t i = 0; i < n; ++i) {
      if (comps == 1) {
        out.pixels[i * 3] = out.pixels[i * 3 + 1] = out.pixels[i * 3 + 2] = ctx.pixels[i];
      } else {
        const std::uint8_t* p = &ctx.pixels[i * 4];
        for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = cmyk_channel(p[c], p[3], adobe_cmyk);
      }
    }
  }
  return apply_orientation(std::move(out), orientation);
}

}  // namespace mlxs::image::detail
