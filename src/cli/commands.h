#pragma once
// Each subcommand registers its options on the CLI11 app and returns the exit
// code through `run` once parsing succeeded.

#include <functional>

#include <CLI/CLI.hpp>

#include "runtime/backend_choice.h"

namespace mlxs::cli {

using Action = std::function<int()>;

// Each adds a subcommand to `parent` and sets `*action` when it is chosen.
void add_generate_command(CLI::App& parent, Action* action);
void add_dev_command(CLI::App& parent, Action* action);
void add_bench_command(CLI::App& parent, Action* action);
void add_runtime_command(CLI::App& parent, Action* action);
void add_serve_command(CLI::App& parent, Action* action);
// Adds `serve` under the `bench` subcommand (after add_bench_command).
void add_bench_serve_command(CLI::App& app, Action* action);
// Adds `cluster` under the `bench` subcommand (after add_bench_command).
void add_bench_cluster_command(CLI::App& app, Action* action);
void add_config_command(CLI::App& parent, Action* action);
void add_doctor_command(CLI::App& parent, Action* action);

// --backend cpu|cuda and --device N, the same on every command that runs a
// model.
void add_backend_options(CLI::App* cmd, runtime::BackendChoice* choice);
// --tensor-parallel N: ranks one model is split over (checked by
// check_tensor_parallel, so N = 0 is a coded InvalidParams, not a usage error).
void add_tensor_parallel_option(CLI::App* cmd, int* ranks);
// --max-batch-tokens N: tokens one engine step computes, its longest prompt
// chunk (0, the default: 512 on the CPU, 2048 on CUDA). Anything but 0 or
// 16..65536, an integer or not, is a usage error naming the bounds.
void add_max_batch_tokens_option(CLI::App* cmd, int* tokens);
// --kv-cache-dtype auto|bf16|fp8|fp8_e4m3|f32: the KV cache's element type
// (BackendChoice::kv_cache_dtype). Any other name is a usage error listing
// the values; bf16/fp8 on the CPU are refused by check_backend_choice.
void add_kv_cache_dtype_option(CLI::App* cmd, runtime::KvCacheDtype* dtype);
// The check of --tensor-parallel before anything loads: 0 when N is usable,
// else the coded error's exit status (report_error).
int refuse_tensor_parallel(const runtime::BackendChoice& backend, int ranks);

// Prints "error: <Code>: <message>" to stderr; returns the exit code (1).
int report_error(const std::string& code_name, const std::string& message);

}  // namespace mlxs::cli
