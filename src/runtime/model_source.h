#pragma once
// Where load_model finds a model's files. Nothing is ever downloaded:
//   1. local_path: an absolute, existing directory (inside a trusted
//      directory when trusted directories are configured);
//   2. model_id naming a directory itself;
//   3. <model dir>/<model_id> for each configured model directory;
//   4. the Hugging Face cache snapshot of model_id at `revision` (default
//      "main"): $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub.
// Errors are ModelLoadError and never name a path the client did not send.

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxs::runtime {

struct SourceQuery {
  std::string model_id;
  std::optional<std::string> local_path;
  std::optional<std::string> revision;
};

struct SourcePolicy {
  std::vector<std::string> trusted_dirs;  // empty: any directory
  std::vector<std::string> model_dirs;
};

// The canonical absolute directory to load from.
core::Result<std::string> resolve_model_dir(const SourceQuery& query, const SourcePolicy& policy);

// The Hugging Face hub cache folder ($HF_HUB_CACHE, $HF_HOME/hub, ...).
std::string hf_hub_cache_dir();

}  // namespace mlxs::runtime
