#pragma once
// Everything one loaded model owns: its backend (on the worker's device; on
// the CPU sharing the worker's thread pool), weights, tokenizer, chat
// formatter, engine and engine thread, and what load_model reported. Members are declared so that
// destruction stops the engine thread first and frees the weights last.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "backend/cpu/thread_pool.h"
#include "engine/arbiter.h"
#include "engine/engine.h"
#include "image/processor_config.h"
#include "model/model.h"
#include "protocol/messages_model.h"
#include "protocol/notifications.h"
#include "runtime/engine_host.h"
#include "runtime/model_stats.h"
#include "runtime/options.h"
#include "template/chat_config.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::runtime {

// What makes two loads of one model_id the same load.
struct LoadKey {
  std::string dir;
  std::optional<std::int64_t> context_length;
  std::string quantization;  // model::LoadOptions::quantization
  bool operator==(const LoadKey&) const = default;
};

struct LoadedModel {
  explicit LoadedModel(const core::Clock& clock) : stats(clock) {}
  ~LoadedModel();

  std::string model_id;
  LoadKey key;
  protocol::LoadModelResult info;
  std::string dtype;              // "float32", "bfloat16", "float16"
  std::size_t chunk_batch = 16;   // tokens per stream.chunk (by model size)
  std::int32_t end_token_id = 0;  // first eos id
  std::atomic<bool> batcher_started{false};
  ModelStats stats;

  // Tensor parallelism: ranks 1..N-1 and rank 0's communicator (declared
  // first, so it outlives rank 0's model and backend below).
  std::unique_ptr<engine::TensorParallelGroup> tp_group;
  std::unique_ptr<tensor::Backend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::optional<template_::ChatFormatter> chat;
  // Vision models: the image processor that turns pictures into the tower's input.
  std::optional<image::ProcessorConfig> processor;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<EngineHost> host;
};

struct LoadContext {
  const RuntimeOptions* options = nullptr;
  std::shared_ptr<backend::cpu::ThreadPool> pool;
  engine::DeviceArbiter* arbiter = nullptr;
  Output* output = nullptr;
  StreamTable* streams = nullptr;
  const core::Clock* clock = nullptr;
  // Receives a load's progress, at most ten reports a second and the last
  // one of a successful bind always (the server sends them as
  // model.load_progress where the client asked for it); may be empty.
  std::function<void(const protocol::LoadProgressNotice&)> on_load_progress;
  // Called once from a model's engine thread when its tensor-parallel group
  // failed (every stream has ended with WorkerCrashed): the worker should
  // go down so that its supervisor restarts it. May be empty.
  std::function<void(const std::string& model_id)> on_group_failed;
};

// Loads `dir` for `model_id` and starts its engine thread (arbiter slot
// `arbiter_index`). Errors are ModelLoadError/TokenizerError messages that
// name files relative to the model directory.
core::Result<std::unique_ptr<LoadedModel>> load_model(const std::string& model_id,
                                                      const LoadKey& key, const LoadContext& ctx,
                                                      int arbiter_index);

// "cpu" or "cuda:N": where the worker's models live.
std::string device_name(const BackendChoice& backend);

// Tokens per batched stream.chunk for a model of this size (ipc_batching).
std::size_t chunk_batch_for(std::size_t parameter_count, const RuntimeOptions& options);

}  // namespace mlxs::runtime
