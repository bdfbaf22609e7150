#pragma once
// The doctor's groups of checks, each adding its lines to a Report. None of
// them throws or stops at the first problem: a broken setup gets every
// finding at once.

#include <cstdint>
#include <optional>
#include <string>

#include "cli/doctor/report.h"
#include "core/json_util.h"

namespace mlxs::cli::doctor {

// /proc/meminfo in bytes; nullopt where the machine does not say.
struct Memory {
  std::optional<std::uint64_t> total;
  std::optional<std::uint64_t> available;
};
Memory read_memory();

// CPU features and the kernels the CPU backend dispatches to.
void check_cpu(Report& report);
// Memory and transparent huge pages.
void check_memory(Report& report, const Memory& memory);
// GPUs when the CUDA backend was built; an info line otherwise.
void check_gpus(Report& report);

// One model directory. `kv_bytes` is the KV cache memory the configuration
// gives each model, counted with the weights against available memory.
void check_model(Report& report, const std::string& dir, const Memory& memory,
                 std::uint64_t kv_bytes);

// The configuration file; returns the effective configuration when valid.
std::optional<core::Json> check_config(Report& report, const std::string& file);
// server.host:server.port can be bound now.
void check_port(Report& report, const core::Json& config);
// server.model_roots, workers.model_dirs and model.trusted_model_directories.
void check_model_roots(Report& report, const core::Json& config);

std::string format_bytes(std::uint64_t bytes);

}  // namespace mlxs::cli::doctor
