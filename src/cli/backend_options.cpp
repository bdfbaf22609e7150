#include "cli/commands.h"

#include <charconv>

#include <fmt/format.h>

#include "runtime/engine_setup.h"
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

void add_max_batch_tokens_option(CLI::App* cmd, int* tokens) {
  // One validator for the text, so a malformed value and one out of bounds
  // get the same sentence (CLI11's Range says nothing of 0 meaning auto).
  const CLI::Validator bounds(
      [](std::string& text) -> std::string {
        int v = -1;
        const char* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, v);
        if (ec == std::errc() && at == end && runtime::check_max_batch_tokens(v).is_ok()) return {};
        return fmt::format(
            "max_batch_tokens '{}': must be 0 (the backend's default) or an "
            "integer in [{}, {}]",
            text, runtime::kMinBatchTokens, runtime::kMaxBatchTokens);
      },
      "0|16..65536");
  cmd->add_option("--max-batch-tokens", *tokens,
                  "Tokens one engine step computes, also its longest prompt chunk (vLLM's "
                  "max_num_batched_tokens; 0: 512 on the CPU, 2048 on CUDA; never below the "
                  "streams that run at once)")
      ->check(bounds);
}

void add_kv_cache_dtype_option(CLI::App* cmd, runtime::KvCacheDtype* dtype) {
  // A validator rather than CLI11's IsMember, so the message names the
  // option as the configuration's error does and lists the alias.
  const CLI::Validator names(
      [](std::string& text) -> std::string {
        if (runtime::parse_kv_cache_dtype(text)) return {};
        return fmt::format("kv_cache_dtype '{}': must be one of {}", text,
                           runtime::kKvCacheDtypeValues);
      },
      "auto|bf16|fp8|fp8_e4m3|f32");
  cmd->add_option_function<std::string>(
         "--kv-cache-dtype",
         [dtype](const std::string& text) {
           *dtype = runtime::parse_kv_cache_dtype(text).value_or(runtime::KvCacheDtype::kAuto);
         },
         "Element type of the KV cache (vLLM's --kv-cache-dtype): auto (bf16 on CUDA, f32 on "
         "the CPU), bf16, fp8 (e4m3; alias fp8_e4m3) or f32; bf16 and fp8 need --backend cuda")
      ->check(names);
}

int refuse_tensor_parallel(const runtime::BackendChoice& backend, int ranks) {
  const core::Status s = runtime::check_tensor_parallel(
      backend, ranks, backend.kind == "cuda" ? runtime::cuda_device_count() : 0);
  return s.is_ok() ? 0 : report_error(std::string(s.code_name()), s.message());
}

}  // namespace mlxs::cli
