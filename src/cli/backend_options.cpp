#include "cli/commands.h"

namespace mlxs::cli {

void add_backend_options(CLI::App* cmd, runtime::BackendChoice* choice) {
  cmd->add_option("--backend", choice->kind, "Device to run models on: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--device", choice->device, "CUDA device ordinal (with --backend cuda)")
      ->check(CLI::Range(0, 63));
}

}  // namespace mlxs::cli
