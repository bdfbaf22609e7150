#pragma once
// How the worker sizes a model and its engine from its options: the load
// options, the context it serves and the engine config. One function, so the
// worker benchmark's in-process engine is set up exactly as the worker's.

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/status.h"
#include "engine/engine.h"
#include "model/model.h"
#include "runtime/options.h"

namespace mlxs::runtime {

// KV block size of every worker engine.
inline constexpr int kKvBlockSize = 16;

// Bounds of an explicit max_batch_tokens (0 asks for the backend's default).
// Below 16 a step hardly amortises its fixed cost; above 65536 the per-row
// scratch (activations, MLP width) would take gigabytes for no more speed.
inline constexpr int kMinBatchTokens = 16;
inline constexpr int kMaxBatchTokens = 65536;

// The step token budget when none is asked for: 512 on the CPU, where a
// longer pass gains nothing and holds the running streams' next token back
// for longer; 2048 on CUDA, where 256 decode rows still leave 1792 prompt
// rows per step and a 2,048-token prompt is one tensor-core-sized GEMM
// instead of four 512-row ones.
int default_max_batch_tokens(std::string_view backend_kind);

// InvalidParams naming max_batch_tokens unless `requested` is 0 or within
// [kMinBatchTokens, kMaxBatchTokens].
core::Status check_max_batch_tokens(int requested);

// The budget used: `requested`, or the backend's default for 0, raised to
// `min_rows` when below it. The scheduler gives every decoding stream one
// row of the budget, so a budget under the streams that may run at once
// would leave the youngest streams without a step until older ones end.
int resolve_max_batch_tokens(int requested, std::string_view backend_kind, int min_rows);

// The worker's budget: options.max_batch_tokens for options.backend, at
// least max_running_streams. The load options, the scheduler's budget and
// its prefill chunk all take this one value (Engine::create refuses a
// scheduler budget above the model's).
int max_batch_tokens_for(const RuntimeOptions& options);

model::LoadOptions load_options_for(const RuntimeOptions& options,
                                    std::optional<std::int64_t> context_length);

struct EngineSetup {
  engine::EngineConfig config;
  std::int64_t context = 0;  // the context served
};

// The context served: what was asked for (else the model's), bounded by the
// positions it was trained for and by the KV memory of one model.
// ModelLoadError when the KV budget holds less than one short sequence.
// The KV cache's share of a device with `free` of `total` bytes free once the
// model is loaded, under gpu_memory_fraction; ModelLoadError with the
// numbers when nothing is left.
core::Result<std::size_t> kv_bytes_from_device(std::size_t free, std::size_t total,
                                               double fraction);

core::Result<EngineSetup> engine_setup_for(const model::Model& model, const RuntimeOptions& options,
                                           std::optional<std::int64_t> context_length);

}  // namespace mlxs::runtime
