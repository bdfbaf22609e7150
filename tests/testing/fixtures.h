#pragma once
// Where tests find their reference data: $MLXS_FIXTURES when set, else
// ../shared/fixtures next to the repository (the source dir is given by CTest
// through MLXS_SOURCE_DIR). Tests must pass on any folder of that layout.

#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/safetensors.h"

namespace mlxs::testing {

std::string fixtures_dir();
std::string fixture_path(const std::string& relative);
// Case folders of hf-tiny that hold a text model (a config.json and a
// reference.safetensors), sorted.
std::vector<std::string> hf_tiny_cases();
// The same for any folder of that layout under the fixtures ("hf-tiny-quant").
std::vector<std::string> model_cases(const std::string& folder);
// A scratch directory unique to this test process, removed at exit.
std::string temp_dir();

// Reference tensors of one case, read with our own loader.
struct Reference {
  std::unique_ptr<model::SafetensorsFile> file;
  const model::TensorEntry* find(const std::string& name) const;
  std::vector<std::int32_t> ids(const std::string& name) const;  // int64 -> int32
  std::vector<float> floats(const std::string& name) const;
};
Reference load_reference(const std::string& case_dir);

// hf-tiny-vision: the image's rows in its prompt, [begin, end) — where the
// token types are 1 (Gemma 3, Qwen), else reference.json's image_token_span
// (LLaVA, whose placeholder is all image tokens).
std::pair<std::int32_t, std::int32_t> image_rows(const Reference& ref,
                                                 const core::Json& reference_json);

}  // namespace mlxs::testing
