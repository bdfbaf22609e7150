#include "runtime/engine_setup.h"

#include <algorithm>

namespace mlxs::runtime {

int default_max_batch_tokens(std::string_view backend_kind) {
  return backend_kind == "cuda" ? 2048 : 512;
}

core::Status check_max_batch_tokens(int requested) {
  if (requested == 0 || (requested >= kMinBatchTokens && requested <= kMaxBatchTokens)) {
    return {};
  }
  return core::make_error(core::ErrorCode::kInvalidParams,
                          "max_batch_tokens {}: must be 0 (the backend's default) or in [{}, {}] "
                          "(tokens one engine step computes)",
                          requested, kMinBatchTokens, kMaxBatchTokens);
}

int resolve_max_batch_tokens(int requested, std::string_view backend_kind, int min_rows) {
  const int budget = requested > 0 ? requested : default_max_batch_tokens(backend_kind);
  return std::max(budget, min_rows);
}

int max_batch_tokens_for(const RuntimeOptions& options) {
  return resolve_max_batch_tokens(options.max_batch_tokens, options.backend.kind,
                                  options.max_running_streams);
}

model::LoadOptions load_options_for(const RuntimeOptions& options,
                                    std::optional<std::int64_t> context_length) {
  model::LoadOptions load;
  load.max_batch_tokens = max_batch_tokens_for(options);
  load.max_seqs = options.max_running_streams;
  load.max_logit_rows = options.max_running_streams;
  if (context_length) {
    load.max_context = static_cast<int>(std::min<std::int64_t>(*context_length, 1 << 20));
  }
  return load;
}

core::Result<std::size_t> kv_bytes_from_device(std::size_t free, std::size_t total,
                                               double fraction) {
  // Everything in use now (this model's weights and scratch, other models,
  // other processes) counts against the share; a reserve stays free for
  // cuBLAS workspaces and captured graphs.
  constexpr std::size_t kReserve = std::size_t{512} << 20;
  const auto budget = static_cast<std::size_t>(static_cast<double>(total) * fraction);
  const std::size_t used = total - std::min(free, total);
  if (budget <= used + kReserve || free <= kReserve) {
    return core::make_error(
        core::ErrorCode::kModelLoadError,
        "GPU memory: {} MiB of {} MiB in use after loading the model leaves nothing for the KV "
        "cache within gpu_memory_fraction {} (a 512 MiB reserve stays free); raise the fraction "
        "or set it to 0 and size the cache with kv_memory_mb",
        used >> 20, total >> 20, fraction);
  }
  return std::min(budget - used - kReserve, free - kReserve);
}

core::Result<EngineSetup> engine_setup_for(const model::Model& model, const RuntimeOptions& options,
                                           std::optional<std::int64_t> context_length) {
  const std::size_t per_block = model.kv_shape(1, kKvBlockSize).bytes();
  std::size_t kv_bytes = options.kv_memory_bytes;
  if (options.gpu_memory_fraction > 0) {
    if (const auto mem = model.backend().device_memory()) {
      MLXS_ASSIGN_OR_RETURN(
          kv_bytes, kv_bytes_from_device(mem->free, mem->total, options.gpu_memory_fraction));
    }
  }
  const std::int64_t blocks =
      static_cast<std::int64_t>(kv_bytes / std::max<std::size_t>(1, per_block));
  std::int64_t context = std::min<std::int64_t>(model.max_context(), model.config().max_position);
  if (context_length) context = std::min(context, *context_length);
  context = std::min(context, blocks * kKvBlockSize);
  if (context < 2) {
    return core::Status(core::ErrorCode::kModelLoadError,
                        "the KV memory budget holds less than one short sequence");
  }
  EngineSetup setup;
  setup.context = context;
  engine::EngineConfig& config = setup.config;
  config.block_size = kKvBlockSize;
  config.kv_blocks = static_cast<int>(std::min<std::int64_t>(blocks, 1 << 24));
  // The same budget the model was loaded for (load_options_for), so a step
  // never holds more rows than the model's scratch and a prompt runs in
  // chunks of the whole budget.
  config.scheduler.max_batch_tokens = max_batch_tokens_for(options);
  config.scheduler.prefill_chunk = config.scheduler.max_batch_tokens;
  config.scheduler.max_seqs = options.max_running_streams;
  // The waiting queues hold at least two batches: with 512 streams, a burst
  // of 512 requests (a benchmark's start) overran the fixed 256 before the
  // first step admitted any, and half of them were refused with QueueFull.
  for (int c = 0; c < engine::kPriorityClasses; ++c) {
    config.scheduler.max_waiting[c] =
        std::max(config.scheduler.max_waiting[c], 2 * options.max_running_streams);
  }
  config.scheduler.max_context = static_cast<int>(context);
  config.max_n = 1;
  config.overlap = options.engine_overlap ? engine::EngineConfig::Overlap::kAuto
                                          : engine::EngineConfig::Overlap::kOff;
  return setup;
}

}  // namespace mlxs::runtime
