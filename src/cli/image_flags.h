#pragma once
// The runtime worker's image-source flags (--image-*), through which serve
// hands each child worker the configuration's `images` section
// (control::ControlConfig::worker_args writes them).

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/image_url.h"

namespace mlxs::cli {

struct ImageArgs {
  int max_mb = 10;
  std::vector<std::string> roots;
  std::vector<std::string> url_allow;
  int url_timeout_ms = 10000;
  std::string ca_file;
};

void add_image_options(CLI::App* cmd, ImageArgs* args);
runtime::ImageSources image_sources(const ImageArgs& args);
// The flags that give another runtime process these settings.
std::vector<std::string> image_flag_args(const ImageArgs& args);

}  // namespace mlxs::cli
