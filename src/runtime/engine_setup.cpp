#include "runtime/engine_setup.h"

#include <algorithm>

namespace mlxs::runtime {

namespace {
constexpr int kMaxBatchTokens = 512;
}  // namespace

model::LoadOptions load_options_for(const RuntimeOptions& options,
                                    std::optional<std::int64_t> context_length) {
  model::LoadOptions load;
  load.max_batch_tokens = kMaxBatchTokens;
  load.max_seqs = options.max_running_streams;
  load.max_logit_rows = options.max_running_streams;
  if (context_length) {
    load.max_context = static_cast<int>(std::min<std::int64_t>(*context_length, 1 << 20));
  }
  return load;
}

core::Result<EngineSetup> engine_setup_for(const model::Model& model, const RuntimeOptions& options,
                                           std::optional<std::int64_t> context_length) {
  const std::size_t per_block = model.kv_shape(1, kKvBlockSize).bytes();
  const std::int64_t blocks =
      static_cast<std::int64_t>(options.kv_memory_bytes / std::max<std::size_t>(1, per_block));
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
  config.scheduler.max_batch_tokens = kMaxBatchTokens;
  config.scheduler.prefill_chunk = kMaxBatchTokens;
  config.scheduler.max_seqs = options.max_running_streams;
  config.scheduler.max_context = static_cast<int>(context);
  config.max_n = 1;
  return setup;
}

}  // namespace mlxs::runtime
