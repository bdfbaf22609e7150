#pragma once
// How the worker sizes a model and its engine from its options: the load
// options, the context it serves and the engine config. One function, so the
// worker benchmark's in-process engine is set up exactly as the worker's.

#include <cstdint>
#include <optional>

#include "core/status.h"
#include "engine/engine.h"
#include "model/model.h"
#include "runtime/options.h"

namespace mlxs::runtime {

// KV block size of every worker engine.
inline constexpr int kKvBlockSize = 16;

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
