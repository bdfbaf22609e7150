// PNG through libpng. libpng reports errors by calling our error function,
// which must not return: it records the message and longjmps back to the
// setjmp in decode_png. Everything that owns memory lives in PngContext (built
// before the setjmp, so a longjmp skips no destructor) and libpng's structs are
// destroyed on every path.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <vector>

#include "image/codecs.h"
#include "image/exif.h"

namespace mlxs::image::detail {
namespace {

struct PngContext {
  std::span<const std::uint8_t> bytes;
  std::size_t offset = 0;
  char message[160] = {};
  std::vector<std::uint8_t> rows;
  std::vector<png_bytep> row_pointers;
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* ctx = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(ctx->message, sizeof(ctx->message), "%s", message != nullptr ? message : "error");
  png_longjmp(png, 1);
}

void on_warning(png_structp /*png*/, png_const_charp /*message*/) {}  // libpng must not print

void read_bytes(png_structp png, png_bytep out, png_size_t length) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  if (length > ctx->bytes.size() - ctx->offset) png_error(png, "truncated data");
  std::memcpy(out, ctx->bytes.data() + ctx->offset, length);
  ctx->offset += length;
}

struct PngHandles {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngHandles() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
};

// The libpng calls, in three steps so that each setjmp frame holds nothing but
// C calls (no C++ object is built or changed between a setjmp and a longjmp
// to it). Each returns false after a libpng error, with the message in ctx.
bool read_header(PngHandles& h, PngContext& ctx, png_uint_32& width, png_uint_32& height) {
  if (setjmp(png_jmpbuf(h.png)) != 0) return false;  // NOLINT(cert-err52-cpp): libpng's model
  png_set_read_fn(h.png, &ctx, read_bytes);
  // Ancillary chunks (text, ICC profiles) must not allocate without bound.
  png_set_chunk_malloc_max(h.png, 8u << 20);
  png_set_user_limits(h.png, 0x7fffffff, 0x7fffffff);
  png_read_info(h.png, h.info);
  width = png_get_image_width(h.png, h.info);
  height = png_get_image_height(h.png, h.info);
  return true;
}

// Palette, low-bit gray and tRNS become full RGB(A); 16-bit keeps its high byte
// (as PIL does when it opens 16-bit RGB); gray is replicated to RGB.
bool set_transforms(PngHandles& h, int& channels, std::size_t& rowbytes) {
  if (setjmp(png_jmpbuf(h.png)) != 0) return false;  // NOLINT(cert-err52-cpp)
  png_set_expand(h.png);
  png_set_strip_16(h.png);
  png_set_gray_to_rgb(h.png);
  png_set_interlace_handling(h.png);
  png_read_update_info(h.png, h.info);
  channels = png_get_channels(h.png, h.info);
  rowbytes = png_get_rowbytes(h.png, h.info);
  return true;
}

bool read_rows(PngHandles& h, png_bytepp rows) {
  if (setjmp(png_jmpbuf(h.png)) != 0) return false;  // NOLINT(cert-err52-cpp)
  png_read_image(h.png, rows);
  return true;
}

}  // namespace

core::Result<RgbImage> decode_png(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  // IHDR must be the first chunk; its size is checked here, before libpng reads
  // on (png_read_info would first walk every chunk up to the pixel data).
  constexpr std::size_t kIhdrEnd = 8 + 8 + 8;
  if (bytes.size() >= kIhdrEnd && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0) {
    auto be32 = [&](std::size_t at) {
      return (static_cast<std::int64_t>(bytes[at]) << 24) | (bytes[at + 1] << 16) |
             (bytes[at + 2] << 8) | bytes[at + 3];
    };
    MLXS_RETURN_IF_ERROR(check_dimensions("PNG", be32(16), be32(20), limits));
  }
  PngContext ctx;
  ctx.bytes = bytes;
  PngHandles h;
  h.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  if (h.png == nullptr) return invalid("PNG", "decoder could not start");
  h.info = png_create_info_struct(h.png);
  if (h.info == nullptr) return invalid("PNG", "decoder could not start");

  png_uint_32 width = 0;
  png_uint_32 height = 0;
  auto corrupt = [&] {
    return core::make_error(core::ErrorCode::kInvalidParams, "PNG image: corrupt or truncated ({})",
                            ctx.message);
  };
  if (!read_header(h, ctx, width, height)) return corrupt();
  MLXS_RETURN_IF_ERROR(check_dimensions("PNG", width, height, limits));
  // An eXIf chunk before the pixels may rotate the picture (PIL reads it, and
  // exif_transpose applies it); reading it cannot raise a libpng error.
  int orientation = 1;
  png_bytep exif = nullptr;
  png_uint_32 exif_size = 0;
  if (png_get_eXIf_1(h.png, h.info, &exif_size, &exif) != 0 && exif != nullptr) {
    orientation = exif_orientation_tiff({exif, exif_size});
  }
  int channels = 0;
  std::size_t rowbytes = 0;
  if (!set_transforms(h, channels, rowbytes)) return corrupt();
  if ((channels != 3 && channels != 4) || rowbytes != static_cast<std::size_t>(width) * channels) {
    return invalid("PNG", "unexpected pixel layout after conversion");
  }
  ctx.rows.resize(rowbytes * height);
  ctx.row_pointers.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) ctx.row_pointers[y] = ctx.rows.data() + y * rowbytes;
  if (!read_rows(h, ctx.row_pointers.data())) return corrupt();

  RgbImage out;
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  const std::size_t n = static_cast<std::size_t>(width) * height;
  if (channels == 3) {
    out.pixels = std::move(ctx.rows);
  } else {
    out.pixels.resize(n * 3);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t* p = &ctx.rows[i * 4];
      for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = over_white(p[c], p[3]);
    }
  }
  return apply_orientation(std::move(out), orientation);
}

}  // namespace mlxs::image::detail
