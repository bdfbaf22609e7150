#pragma once
// Settings of one runtime worker. Defaults follow the original's shipped
// config/runtime.yaml (compat/config.md §4) where it has one, and
// compat/client.md's limits on what the original client can read.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "runtime/backend_choice.h"
#include "runtime/image_url.h"
#include "telemetry/tracer.h"

namespace mlxs::runtime {

struct OutputOptions {
  // Hard cap on one stdout line: the client's end holds at most 64 KiB of
  // pending text, so every line stays well under 32 KiB.
  std::size_t max_line_bytes = 30 * 1024;
  // Coalesced notification lines aim at this size.
  std::size_t notification_budget = 8 * 1024;
  // A batched stream.chunk is flushed when its oldest token is this old
  // (ipc_batching.flush_interval_ms).
  core::Nanos flush_interval_ns = 6'000'000;
  // Engines stop draining their streams while this much output waits (the
  // engine then coalesces and, past its own limit, ends slow streams).
  std::size_t max_backlog_bytes = 1u << 20;
  // SO_SNDBUF when stdout is a socket (the original client's end is one).
  int socket_send_buffer = 16 * 1024;
};

struct RuntimeOptions {
  // python_bridge.max_buffer_size: a longer request line is refused.
  std::size_t max_request_bytes = 1u << 20;
  OutputOptions output;
  // ipc_batching: tokens per stream.chunk when the model size is unknown; by
  // parameter count: < 4 B -> 32, < 15 B -> 16, < 50 B -> 8, else 4.
  bool ipc_batching = true;
  int max_tokens_per_batch = 16;
  // CPU threads shared by every loaded model (0: one per CPU).
  int threads = 0;
  // The device every model of this worker runs on.
  BackendChoice backend;
  // model.trusted_model_directories: when set, local_path must lie inside.
  std::vector<std::string> trusted_dirs;
  // Folders searched for a model_id that is not a directory itself.
  std::vector<std::string> model_dirs;
  // KV cache per loaded model; bounds the context a model is served with.
  std::size_t kv_memory_bytes = std::size_t{1} << 30;
  // On a GPU, when above 0: the KV cache takes what is left of this share of
  // the device's memory once the model is loaded, instead of kv_memory_bytes.
  double gpu_memory_fraction = 0;
  // model.default_max_tokens
  int default_max_tokens = 512;
  // Where images may come from: data URIs and base64 always (the original
  // takes up to 10 MiB decoded), files only under configured roots, http(s)
  // only from allowed hosts.
  ImageSources images;
  // Prints the readiness marker on stderr when serving starts.
  bool announce_ready = true;
  // The engine's overlap mode where the device computes asynchronously
  // (engine::EngineConfig::Overlap); off: each step is read before the next
  // is scheduled (for measuring what overlap gains).
  bool engine_overlap = true;
  // Largest number of streams one model runs at a time.
  int max_running_streams = 64;
  // Tokens one engine step computes (vLLM's max_num_batched_tokens): the
  // rows of one forward pass, the scheduler's budget and its longest prefill
  // chunk. 0: the backend's default (default_max_batch_tokens); else
  // kMinBatchTokens..kMaxBatchTokens. Never below max_running_streams
  // (resolve_max_batch_tokens), so every running stream decodes each step.
  int max_batch_tokens = 0;
  // Ranks every model is split over (tensor parallelism,
  // docs/tensor-parallel.md): on CUDA devices backend.device and the next
  // N - 1; on the CPU N groups of threads/N. 1: the whole model.
  int tensor_parallel = 1;
  // After shutdown or end of input, the process exits (std::_Exit(0)) when
  // tearing down takes longer than this (0: wait; the CLI sets it, as the
  // original client kills the worker 5 s after shutdown).
  int exit_deadline_ms = 0;
  // Where this worker's spans go (null: not traced). serve --in-process
  // hands its own, so both tiers share one exporter.
  std::shared_ptr<telemetry::Tracer> tracer;
  // Whether runtime/telemetry reports the tracer's counters (off when the
  // tracer is serve's own, which /metrics already shows).
  bool report_tracing = true;
  // Where set, kept equal to the number of streams in flight (a worker host
  // announces its load from it; the in-process launcher reads it).
  std::shared_ptr<std::atomic<std::int64_t>> streams_gauge;
};

}  // namespace mlxs::runtime
