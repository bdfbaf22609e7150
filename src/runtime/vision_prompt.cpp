#include "runtime/vision_prompt.h"

#include <filesystem>

#include <fmt/format.h>

#include "image/decode.h"
#include "image/preprocess.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;

namespace {

Status bad(const std::string& what) {
  return Status(ErrorCode::kInvalidParams, what);
}

const model::VisionConfig& vision_of(const LoadedModel& m) {
  return *m.model->vision();
}

Result<std::string> token_text(const LoadedModel& m, std::int64_t id) {
  if (!m.tokenizer) return bad("images need the model's tokenizer");
  const auto text = m.tokenizer->id_to_token(static_cast<std::int32_t>(id));
  if (!text) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "the tokenizer has no token {} for the model's images", id);
  }
  return std::string(*text);
}

// The text that stands for an image of `rows` placeholder tokens.
Result<std::string> expansion(const LoadedModel& m, std::int64_t rows) {
  const model::VisionConfig& v = vision_of(m);
  MLXS_ASSIGN_OR_RETURN(const std::string token, token_text(m, v.image_token_id));
  std::string run;
  run.reserve(token.size() * static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) run += token;
  if (v.projector != model::ProjectorKind::kGemma3Pool) return run;
  // Gemma3Processor: "\n\n<start_of_image>" + soft tokens + "<end_of_image>\n\n".
  if (!v.image_start_id || !v.image_end_id) return bad("the model has no start / end of image");
  MLXS_ASSIGN_OR_RETURN(const std::string boi, token_text(m, *v.image_start_id));
  MLXS_ASSIGN_OR_RETURN(const std::string eoi, token_text(m, *v.image_end_id));
  return "\n\n" + boi + run + eoi + "\n\n";
}

// `text` with each occurrence of `marker` replaced by what `with(k)` gives
// for the k-th one; `count` receives how many there were.
template <class With>
Result<std::string> replace_each(const std::string& text, std::string_view marker, With with,
                                 std::size_t& count) {
  std::string out;
  std::size_t at = 0;
  count = 0;
  for (std::size_t hit; (hit = text.find(marker, at)) != std::string::npos;
       at = hit + marker.size()) {
    out.append(text, at, hit - at);
    MLXS_ASSIGN_OR_RETURN(const std::string piece, with(count++));
    out += piece;
  }
  out.append(text, at);
  return out;
}

}  // namespace

Result<std::optional<image::ProcessorConfig>> load_image_processor(const std::string& dir,
                                                                   const model::Model& model) {
  if (model.vision() == nullptr) return std::optional<image::ProcessorConfig>();
  MLXS_ASSIGN_OR_RETURN(auto config, image::load_processor_config(dir));
  const auto path = std::filesystem::path(dir) / "config.json";
  MLXS_ASSIGN_OR_RETURN(Json doc, core::read_json_file(path.string(), "config.json",
                                                       ErrorCode::kModelLoadError, 16u << 20));
  MLXS_RETURN_IF_ERROR(image::apply_model_config(config, doc));
  return std::optional<image::ProcessorConfig>(std::move(config));
}

Result<std::string> image_marker(const LoadedModel& m) {
  if (m.model->vision() == nullptr) return bad("this model does not take images");
  const model::VisionConfig& v = vision_of(m);
  if (v.projector == model::ProjectorKind::kGemma3Pool) {
    if (!v.image_start_id) return bad("the model has no start of image token");
    return token_text(m, *v.image_start_id);
  }
  return token_text(m, v.image_token_id);
}

Result<std::string> original_image_prompt(const LoadedModel& m, std::string_view prompt) {
  MLXS_ASSIGN_OR_RETURN(std::string marker, image_marker(m));
  const model::VisionConfig& v = vision_of(m);
  // Qwen's template wraps its image token in vision start / end.
  if (v.projector == model::ProjectorKind::kQwenMerger && v.image_start_id && v.image_end_id) {
    MLXS_ASSIGN_OR_RETURN(const std::string start, token_text(m, *v.image_start_id));
    MLXS_ASSIGN_OR_RETURN(const std::string end, token_text(m, *v.image_end_id));
    marker = start + marker + end;
  }
  constexpr std::string_view kGeneric = "<image>";
  std::string text(prompt);
  if (text.find(kGeneric) == std::string::npos) text = std::string(kGeneric) + "\n" + text;
  std::size_t count = 0;
  return replace_each(
      text, kGeneric, [&](std::size_t) { return Result<std::string>(marker); }, count);
}

Result<std::vector<std::string>> take_image_parts(Json& messages) {
  std::vector<std::string> sources;
  if (!messages.is_array()) return sources;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    auto content = messages[i].find("content");
    if (content == messages[i].end() || !content->is_array()) continue;
    for (std::size_t j = 0; j < content->size(); ++j) {
      Json& part = (*content)[j];
      const auto where = fmt::format("messages[{}].content[{}]", i, j);
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
        return bad(where + ": a content part needs a type");
      }
      const std::string type = part["type"].get<std::string>();
      const Json* source = nullptr;
      if (type == "image_url") {
        const auto url = part.find("image_url");
        if (url != part.end() && url->is_object()) {
          if (auto u = url->find("url"); u != url->end()) source = &*u;
        } else if (url != part.end()) {
          source = &*url;
        }
      } else if (type == "image") {
        if (auto img = part.find("image"); img != part.end()) source = &*img;
      } else {
        continue;
      }
      if (source == nullptr || !source->is_string() || source->get<std::string>().empty()) {
        return bad(where + ": an image part needs its url (a data: URI or base64)");
      }
      sources.push_back(source->get<std::string>());
      part = Json{{"type", "image"}};
    }
  }
  return sources;
}

Result<ImagePrompt> encode_with_images(const LoadedModel& m, const std::string& text,
                                       bool add_special, const std::vector<std::string>& sources,
                                       const ImageSources& limits) {
  if (m.model->vision() == nullptr || !m.processor) {
    return bad("images: this model does not take images");
  }
  if (!m.tokenizer) return bad("images need the model's tokenizer");
  ImagePrompt out;
  std::vector<std::int64_t> rows;         // per image the model sees
  std::vector<std::size_t> first, crops;  // per source: its first image, its crops
  for (std::size_t i = 0; i < sources.size(); ++i) {
    auto bytes = load_image_source(sources[i], limits);
    if (!bytes) return bad(fmt::format("images[{}]: {}", i, bytes.status().message()));
    auto decoded = image::decode_image(*bytes);
    if (!decoded) return bad(fmt::format("images[{}]: {}", i, decoded.status().message()));
    // Gemma 3's pan and scan: the whole image, then its crops.
    std::vector<image::RgbImage> views;
    for (const image::CropBox& box :
         image::pan_and_scan_boxes(*m.processor, decoded->height, decoded->width)) {
      views.push_back(image::crop(*decoded, box));
    }
    first.push_back(out.images.size());
    crops.push_back(views.size());
    views.insert(views.begin(), std::move(*decoded));
    for (const image::RgbImage& view : views) {
      auto pixels = image::preprocess(*m.processor, view);
      if (!pixels) return bad(fmt::format("images[{}]: {}", i, pixels.status().message()));
      engine::RequestImage img;
      img.pixels = std::move(pixels->data);
      img.grid_t = std::max<std::int64_t>(pixels->grid_thw[0], 1);
      img.grid_h = pixels->grid_thw[1];
      img.grid_w = pixels->grid_thw[2];
      rows.push_back(pixels->image_tokens);
      out.images.push_back(std::move(img));
    }
  }
  // One marker per source, expanded in order.
  MLXS_ASSIGN_OR_RETURN(const std::string marker, image_marker(m));
  std::size_t found = 0;
  auto expand = [&](std::size_t k) -> Result<std::string> {
    if (k >= first.size()) {
      return bad(
          fmt::format("the prompt has more image markers than the {} images sent", first.size()));
    }
    MLXS_ASSIGN_OR_RETURN(std::string whole, expansion(m, rows[first[k]]));
    if (crops[k] == 0) return whole;
    // As Gemma3Processor words an image with crops.
    std::string worded =
        "Here is the original image " + whole + " and here are some crops to help you see better";
    for (std::size_t c = 1; c <= crops[k]; ++c) {
      MLXS_ASSIGN_OR_RETURN(const std::string piece, expansion(m, rows[first[k] + c]));
      worded += " " + piece;
    }
    return worded;
  };
  MLXS_ASSIGN_OR_RETURN(const std::string expanded, replace_each(text, marker, expand, found));
  if (found != first.size()) {
    return bad(fmt::format("the prompt has {} image markers for {} images", found, first.size()));
  }
  auto ids = m.tokenizer->encode(expanded, add_special);
  if (!ids) return Status(ErrorCode::kTokenizerError, "Tokenizer error: " + ids.status().message());
  out.ids = std::move(ids).value();
  // Each image at its run of placeholder tokens.
  const auto image_id = static_cast<std::int32_t>(vision_of(m).image_token_id);
  std::size_t k = 0;
  for (std::size_t t = 0; t < out.ids.size();) {
    if (out.ids[t] != image_id) {
      ++t;
      continue;
    }
    std::size_t end = t;
    while (end < out.ids.size() && out.ids[end] == image_id) ++end;
    if (k == out.images.size() || static_cast<std::int64_t>(end - t) != rows[k]) {
      return bad("the image placeholders did not tokenize as the images need");
    }
    out.images[k++].begin = static_cast<std::int32_t>(t);
    t = end;
  }
  if (k != out.images.size()) return bad("the image placeholders did not tokenize as expected");
  return out;
}

}  // namespace mlxs::runtime
