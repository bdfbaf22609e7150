// GIF through giflib, first frame only, read record by record (DGifSlurp would
// decode every frame of an animation first). The frame is drawn on a white
// canvas of the logical screen's size; its transparent index shows white.
#include <gif_lib.h>

#include <cstring>
#include <vector>

#include "image/codecs.h"

namespace mlxs::image::detail {
namespace {

struct Reader {
  std::span<const std::uint8_t> bytes;
  std::size_t offset = 0;
};

int read_bytes(GifFileType* gif, GifByteType* out, int length) {
  auto* r = static_cast<Reader*>(gif->UserData);
  if (length < 0) return 0;
  const std::size_t n = std::min(static_cast<std::size_t>(length), r->bytes.size() - r->offset);
  std::memcpy(out, r->bytes.data() + r->offset, n);
  r->offset += n;
  return static_cast<int>(n);
}

struct GifHandle {
  GifFileType* gif = nullptr;
  ~GifHandle() {
    if (gif != nullptr) {
      int error = 0;
      DGifCloseFile(gif, &error);
    }
  }
};

core::Status gif_error(const GifHandle& h, std::string_view during) {
  const char* text = GifErrorString(h.gif->Error);
  return core::make_error(core::ErrorCode::kInvalidParams,
                          "GIF image: corrupt or truncated ({}: {})", during,
                          text != nullptr ? text : "unknown error");
}

}  // namespace

core::Result<RgbImage> decode_gif(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  Reader reader{bytes, 0};
  GifHandle h;
  int open_error = 0;
  h.gif = DGifOpen(&reader, read_bytes, &open_error);
  if (h.gif == nullptr) {
    const char* text = GifErrorString(open_error);
    return core::make_error(core::ErrorCode::kInvalidParams, "GIF image: corrupt or truncated ({})",
                            text != nullptr ? text : "cannot open");
  }
  GifFileType* gif = h.gif;
  MLXS_RETURN_IF_ERROR(check_dimensions("GIF", gif->SWidth, gif->SHeight, limits));

  int transparent = NO_TRANSPARENT_COLOR;
  for (;;) {
    GifRecordType record = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif, &record) == GIF_ERROR) return gif_error(h, "record");
    if (record == TERMINATE_RECORD_TYPE) return invalid("GIF", "no image frame");
    if (record == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) return gif_error(h, "extension");
      // The graphic control extension before the first frame gives its
      // transparent index (ext[0] is the block's length).
      if (code == GRAPHICS_EXT_FUNC_CODE && ext != nullptr && ext[0] >= 4) {
        GraphicsControlBlock gcb{};
        if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK) transparent = gcb.TransparentColor;
      }
      while (ext != nullptr) {
        if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) return gif_error(h, "extension");
      }
      continue;
    }
    if (record != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif) == GIF_ERROR) return gif_error(h, "image descriptor");
    break;
  }

  const GifImageDesc& desc = gif->Image;
  const ColorMapObject* map = desc.ColorMap != nullptr ? desc.ColorMap : gif->SColorMap;
  if (map == nullptr || map->Colors == nullptr) return invalid("GIF", "no color table");
  MLXS_RETURN_IF_ERROR(check_dimensions("GIF", desc.Width, desc.Height, limits));
  if (desc.Left < 0 || desc.Top < 0) return invalid("GIF", "frame outside the canvas");

  // Rows arrive in interlaced order when the frame is interlaced.
  std::vector<GifPixelType> frame(static_cast<std::size_t>(desc.Width) * desc.Height);
  auto read_row = [&](int y) {
    return DGifGetLine(gif, &frame[static_cast<std::size_t>(y) * desc.Width], desc.Width);
  };
  if (desc.Interlace) {
    constexpr int kStart[] = {0, 4, 2, 1};
    constexpr int kStep[] = {8, 8, 4, 2};
    for (int pass = 0; pass < 4; ++pass) {
      for (int y = kStart[pass]; y < desc.Height; y += kStep[pass]) {
        if (read_row(y) == GIF_ERROR) return gif_error(h, "pixels");
      }
    }
  } else {
    for (int y = 0; y < desc.Height; ++y) {
      if (read_row(y) == GIF_ERROR) return gif_error(h, "pixels");
    }
  }

  RgbImage out;
  out.width = gif->SWidth;
  out.height = gif->SHeight;
  out.pixels.assign(static_cast<std::size_t>(out.width) * out.height * 3, 255);
  for (int y = 0; y < desc.Height; ++y) {
    const int cy = desc.Top + y;
    if (cy >= out.height) break;
    for (int x = 0; x < desc.Width; ++x) {
      const int cx = desc.Left + x;
      if (cx >= out.width) break;
      const int index = frame[static_cast<std::size_t>(y) * desc.Width + x];
      if (index == transparent) continue;
      std::uint8_t* p = &out.pixels[(static_cast<std::size_t>(cy) * out.width + cx) * 3];
      if (index < map->ColorCount) {
        p[0] = map->Colors[index].Red;
        p[1] = map->Colors[index].Green;
        p[2] = map->Colors[index].Blue;
      } else {
        p[0] = p[1] = p[2] = 0;  // an index past the table: black, as browsers draw it
      }
    }
  }
  return out;
}

}  // namespace mlxs::image::detail
