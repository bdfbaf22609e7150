#pragma once
// Images in a vision model's prompt, as the Hugging Face processors put them
// there: each source (data URI, base64, or a file under the configured
// roots) decoded and preprocessed by the model's image processor; the one
// marker per image that the chat template writes (or the original
// protocol's "<image>") expanded to the image's placeholder tokens (LLaVA
// and Qwen repeat the image token, Gemma 3 wraps its soft tokens in start /
// end of image and blank lines); the text tokenized; each image placed at
// its run of placeholder tokens.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "engine/engine.h"
#include "runtime/image_url.h"
#include "image/processor_config.h"
#include "runtime/loaded_model.h"

namespace mlxs::runtime {

// The model's image processor (config.json can refine preprocessor_config.json);
// nullopt for text models.
core::Result<std::optional<image::ProcessorConfig>> load_image_processor(const std::string& dir,
                                                                         const model::Model& model);

// What the chat template writes for one image ("<image>", "<|image_pad|>",
// "<start_of_image>"), from the model's tokenizer.
core::Result<std::string> image_marker(const LoadedModel& m);

// The original protocol's prompt: "<image>\n" put first when the prompt has
// no "<image>", and each "<image>" written as the model's template would.
core::Result<std::string> original_image_prompt(const LoadedModel& m, std::string_view prompt);

// Chat messages whose content parts may hold images ({"type": "image_url",
// "image_url": {"url": ...}} as OpenAI sends them, or {"type": "image",
// "image": source}): the sources in order, and the parts rewritten to
// {"type": "image"} as the models' templates expect.
core::Result<std::vector<std::string>> take_image_parts(core::Json& messages);

// Decodes and preprocesses each source, expands `text`'s markers (one per
// image, in order), tokenizes it (`add_special`: the tokenizer's own BOS /
// post-processor) and places each image at its placeholder tokens.
struct ImagePrompt {
  std::vector<std::int32_t> ids;
  std::vector<engine::RequestImage> images;
};
core::Result<ImagePrompt> encode_with_images(const LoadedModel& m, const std::string& text,
                                             bool add_special,
                                             const std::vector<std::string>& sources,
                                             const ImageSources& limits);

}  // namespace mlxs::runtime
