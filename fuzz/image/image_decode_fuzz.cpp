// Any bytes either decode to an RGB image within the limits, which then
// preprocesses for each processor family, or give InvalidParams; never a crash,
// a leak or a library message. The first byte picks the processor so one run
// covers all three. The bytes also go through the source parser (data URI,
// strict base64) as text.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/json_util.h"
#include "image/decode.h"
#include "image/image_source.h"
#include "image/preprocess.h"

namespace {

using mlxs::image::ProcessorConfig;

const ProcessorConfig& processor(std::uint8_t pick) {
  static const ProcessorConfig kConfigs[] = {
      *mlxs::image::parse_processor_config(
          mlxs::core::Json::parse(R"({"image_processor_type": "CLIPImageProcessor",
              "size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}})"),
          "clip"),
      *mlxs::image::parse_processor_config(
          mlxs::core::Json::parse(R"({"image_processor_type": "Qwen2VLImageProcessor",
              "size": {"shortest_edge": 3136, "longest_edge": 50176}})"),
          "qwen"),
      *mlxs::image::parse_processor_config(
          mlxs::core::Json::parse(R"({"image_processor_type": "Gemma3ImageProcessor",
              "size": {"height": 48, "width": 48}, "resample": 2})"),
          "gemma3"),
  };
  return kConfigs[pick % 3];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The same bytes as a request's image string: data URI or bare base64 (no
  // local roots, so file:// is refused).
  const mlxs::image::SourceLimits sources;
  auto source = mlxs::image::load_image_bytes(
      std::string_view(reinterpret_cast<const char*>(data), size), sources);
  if (!source.is_ok() && source.status().code() != mlxs::core::ErrorCode::kInvalidParams) {
    __builtin_trap();
  }
  mlxs::image::DecodeLimits limits;
  limits.max_pixels = 4'000'000;  // keeps each run short; the checks are the same
  auto image = mlxs::image::decode_image(std::span(data + 1, size - 1), limits);
  if (!image.is_ok()) {
    if (image.status().code() != mlxs::core::ErrorCode::kInvalidParams) __builtin_trap();
    return 0;
  }
  if (image->width <= 0 || image->height <= 0 ||
      image->pixels.size() != static_cast<std::size_t>(image->width) * image->height * 3) {
    __builtin_trap();
  }
  auto pixels = mlxs::image::preprocess(processor(data[0]), *image);
  if (pixels.is_ok()) {
    std::int64_t n = 1;
    for (std::int64_t d : pixels->shape) n *= d;
    if (static_cast<std::size_t>(n) != pixels->data.size() || pixels->image_tokens <= 0) {
      __builtin_trap();
    }
  } else if (pixels.status().code() != mlxs::core::ErrorCode::kInvalidParams) {
    __builtin_trap();
  }
  return 0;
}
