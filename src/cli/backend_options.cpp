#include "cli/commands.h"

#include "runtime/tensor_parallel.h"

namespace mlxs::cli {

void add_backend_options(CLI::App* cmd, runtime::BackendChoice* choice) {
  cmd->add_option("--backend", choice->kind, "Device to run models on: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--device", choice->device, "CUDA device ordinal (with --backend cuda)")
      ->check(CLI::Range(0, 63));
}

void add_tensor_parallel_option(CLI::App* cmd, int* ranks) {
  cmd->add_option("--tensor-parallel", *ranks,
                  "Split each model over N ranks (docs/tensor-parallel.md): on CUDA devices "
                  "--device .. --device + N - 1 over NCCL, on the CPU N groups of the threads");
}

int refuse_tensor_parallel(const runtime::BackendChoice& backend, int ranks) {
  const core::Status s = runtime::check_tensor_parallel(
      backend, ranks, backend.kind == "cuda" ? runtime::cuda_device_count() : 0);
  return s.is_ok() ? 0 : report_error(std::string(s.code_name()), s.message());
}

}  // namespace mlxs::cli
