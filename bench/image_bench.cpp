#include "image_bench.h"

#include <cstdio>  // jpeglib.h needs FILE

#include <jpeglib.h>
#include <png.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "core/rng.h"
#include "image/decode.h"
#include "image/preprocess.h"
#include "machine.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;
using nlohmann::json;

// Smooth gradients, a few shapes and mild noise: compresses like a photo
// rather than like a flat test card.
image::RgbImage make_picture(int size) {
  image::RgbImage im;
  im.width = im.height = size;
  im.pixels.resize(static_cast<std::size_t>(size) * size * 3);
  core::Xoshiro256 rng(7);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      std::uint8_t* p = &im.pixels[(static_cast<std::size_t>(y) * size + x) * 3];
      const int dx = x - size / 3;
      const int dy = y - size / 2;
      const bool disc = dx * dx + dy * dy < size * size / 16;
      const int noise = static_cast<int>(rng.below(17)) - 8;
      p[0] = static_cast<std::uint8_t>(std::clamp((disc ? 220 : x * 255 / size) + noise, 0, 255));
      p[1] = static_cast<std::uint8_t>(std::clamp(y * 255 / size + noise, 0, 255));
      p[2] =
          static_cast<std::uint8_t>(std::clamp(((x / 64 + y / 64) % 2) * 120 + 60 + noise, 0, 255));
    }
  }
  return im;
}

void append_png(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

void no_flush(png_structp /*png*/) {}

core::Result<Bytes> encode_png(const image::RgbImage& im) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png)) != 0) {  // NOLINT(cert-err52-cpp): libpng's error model
    png_destroy_write_struct(&png, &info);
    return core::Status(core::ErrorCode::kInternalError, "PNG encoding failed");
  }
  png_set_write_fn(png, &out, append_png, no_flush);
  png_set_IHDR(png, info, im.width, im.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < im.height; ++y) {
    png_write_row(png, &im.pixels[static_cast<std::size_t>(y) * im.stride()]);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

Bytes encode_jpeg(const image::RgbImage& im) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr err{};
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(im.width);
  cinfo.image_height = static_cast<JDIMENSION>(im.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 90, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    auto* row = const_cast<JSAMPROW>(&im.pixels[cinfo.next_scanline * im.stride()]);  // NOLINT
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  Bytes out(buffer, buffer + size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);  // NOLINT(cppcoreguidelines-no-malloc): jpeg_mem_dest's buffer
  return out;
}

struct Processor {
  const char* name;
  const char* config;
};

// As the published models' preprocessor_config.json files set them.
constexpr Processor kProcessors[] = {
    {"llava-1.5 (CLIP 336)",
     R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 336},
         "crop_size": {"height": 336, "width": 336}, "resample": 3})"},
    {"qwen2.5-vl (smart resize)",
     R"({"image_processor_type": "Qwen2VLImageProcessor", "min_pixels": 3136,
         "max_pixels": 12845056, "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2})"},
    {"gemma3 (SigLIP 896)",
     R"({"image_processor_type": "Gemma3ImageProcessor", "size": {"height": 896, "width": 896},
         "resample": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})"},
};

}  // namespace

core::Result<json> run_image_bench(const ImageBenchOptions& o) {
  if (o.size < 16 || o.size > 8192 || o.iterations < 1) {
    return core::Status(core::ErrorCode::kInvalidParams, "size in [16, 8192], iterations >= 1");
  }
  const image::RgbImage picture = make_picture(o.size);
  MLXS_ASSIGN_OR_RETURN(const Bytes png, encode_png(picture));
  const Bytes jpeg = encode_jpeg(picture);
  if (!o.save_dir.empty()) {
    std::ofstream(o.save_dir + "/bench.png", std::ios::binary)
        .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    std::ofstream(o.save_dir + "/bench.jpg", std::ios::binary)
        .write(reinterpret_cast<const char*>(jpeg.data()),
               static_cast<std::streamsize>(jpeg.size()));
  }

  std::vector<std::pair<const char*, image::ProcessorConfig>> processors;
  for (const Processor& p : kProcessors) {
    MLXS_ASSIGN_OR_RETURN(auto cfg, image::parse_processor_config(json::parse(p.config), p.name));
    processors.emplace_back(p.name, std::move(cfg));
  }

  json rows = json::array();
  for (const auto& [format, bytes] : {std::pair<const char*, const Bytes*>{"PNG", &png},
                                      std::pair<const char*, const Bytes*>{"JPEG", &jpeg}}) {
    const Bytes* input = bytes;  // clang 14 cannot capture a structured binding
    // nullptr: decode only.
    std::vector<const std::pair<const char*, image::ProcessorConfig>*> stages = {nullptr};
    for (const auto& p : processors) stages.push_back(&p);
    for (const auto* stage : stages) {
      std::int64_t checksum = 0;
      std::vector<std::int64_t> shape;
      auto once = [&]() -> core::Status {
        MLXS_ASSIGN_OR_RETURN(auto im, image::decode_image(*input));
        if (stage == nullptr) {
          checksum += im.pixels[im.pixels.size() / 2];
          return core::Status::ok();
        }
        MLXS_ASSIGN_OR_RETURN(auto pv, image::preprocess(stage->second, im));
        checksum += static_cast<std::int64_t>(pv.data[pv.data.size() / 2] * 1000);
        shape = pv.shape;
        return core::Status::ok();
      };
      MLXS_RETURN_IF_ERROR(once());  // warm-up
      const auto t0 = Clock::now();
      for (int i = 0; i < o.iterations; ++i) MLXS_RETURN_IF_ERROR(once());
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / o.iterations;
      rows.push_back(json{{"format", format},
                          {"encoded_bytes", bytes->size()},
                          {"processor", stage == nullptr ? "decode only" : stage->first},
                          {"output_shape", shape},
                          {"ms_per_image", ms},
                          {"images_per_s", 1000.0 / ms},
                          {"checksum", checksum}});
    }
  }
  return json{{"benchmark", "image"},
              {"machine", describe_machine()},
              {"size", o.size},
              {"iterations", o.iterations},
              {"results", rows},
              {"what", "decode (+ preprocess) of one generated image per run, one thread"}};
}

std::string format_image_table(const json& r) {
  std::string out =
      fmt::format("image decode + preprocess, {0}x{0} input, one thread\n", r["size"].get<int>());
  out += fmt::format("  {:<6} {:<28} {:>16} {:>10} {:>10}\n", "format", "processor", "output",
                     "ms/image", "images/s");
  for (const auto& row : r["results"]) {
    std::string shape;
    for (const auto& d : row["output_shape"]) {
      shape += (shape.empty() ? "" : "x") + std::to_string(d.get<std::int64_t>());
    }
    out +=
        fmt::format("  {:<6} {:<28} {:>16} {:>10.2f} {:>10.1f}\n", row["format"].get<std::string>(),
                    row["processor"].get<std::string>(), shape.empty() ? "-" : shape,
                    row["ms_per_image"].get<double>(), row["images_per_s"].get<double>());
  }
  return out;
}

}  // namespace mlxs::bench
