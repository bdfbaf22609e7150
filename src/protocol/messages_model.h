#pragma once
// Messages of model management: load_model, unload_model, check_draft,
// load_vision_model (compat/jsonrpc.md §4.5, 4.6, 4.14, 4.16).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/codec.h"

namespace mlxs::protocol {

struct LoadModelParams {
  std::string model_id;
  std::optional<bool> draft;                // sent by the client; no effect
  std::optional<std::string> revision;      // picks the Hugging Face cache snapshot
  std::optional<std::string> quantization;  // null | none | int4 | int8 | fp8 (model::LoadOptions)
  std::optional<std::string> local_path;    // absolute directory; overrides model_id
  std::optional<std::int64_t> context_length;
  std::optional<bool> trust_remote_code;  // no effect: no code is ever run
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("draft", s.draft);
    v("revision", s.revision);
    v("quantization", s.quantization);
    v("local_path", s.local_path);
    v("context_length", s.context_length);
    v("trust_remote_code", s.trust_remote_code);
  }
};

// Ours: what a loaded model holds and where. The weights as the backend keeps
// them (model::Model::weight_bytes) and the KV cache its engine was given
// (blocks x bytes per block), on `device` ("cpu", "cuda:0"), its elements
// of kv_cache_dtype ("f32", "bf16", "fp8": what the backend keeps, after
// --kv-cache-dtype, exact_f32 and the environment's overrides). Optional so
// a report from a worker without it still parses.
struct ModelMemory {
  std::int64_t weights_bytes = 0;
  std::int64_t kv_cache_bytes = 0;
  std::int64_t kv_blocks_total = 0;
  std::int64_t kv_block_bytes = 0;
  std::string device;
  std::optional<std::string> kv_cache_dtype;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("weights_bytes", s.weights_bytes);
    v("kv_cache_bytes", s.kv_cache_bytes);
    v("kv_blocks_total", s.kv_blocks_total);
    v("kv_block_bytes", s.kv_block_bytes);
    v("device", s.device);
    v("kv_cache_dtype", s.kv_cache_dtype);
  }
};

struct LoadModelResult {
  std::string model_id;
  std::string state = "ready";
  std::int64_t context_length = 0;
  std::int64_t parameter_count = 0;
  std::string dtype = "unknown";
  bool is_vision_model = false;
  // The directory the weights came from; the client copies its top-level
  // files into its artifact cache.
  Nullable<std::string> cached_path;
  // Ours.
  std::optional<std::string> architecture;  // config model_type
  std::optional<std::int64_t> vocab_size;
  std::optional<bool> has_tokenizer;
  std::optional<bool> has_chat_template;
  // Seconds the one-token warm-up generation took: a model is listed as loaded
  // (and /ready counts it) only once a real token went through its engine.
  std::optional<double> warmup_seconds;
  // How the weights are held: "none", "mlx-affine 4-bit", "fp8-channel",
  // "int4 at load" ...
  std::optional<std::string> quantization;
  // Ours: the model's weights and KV cache in bytes.
  std::optional<ModelMemory> memory;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("state", s.state);
    v("context_length", s.context_length);
    v("parameter_count", s.parameter_count);
    v("dtype", s.dtype);
    v("is_vision_model", s.is_vision_model);
    v("cached_path", s.cached_path);
    v("architecture", s.architecture);
    v("vocab_size", s.vocab_size);
    v("has_tokenizer", s.has_tokenizer);
    v("has_chat_template", s.has_chat_template);
    v("warmup_seconds", s.warmup_seconds);
    v("quantization", s.quantization);
    v("memory", s.memory);
  }
};

struct UnloadModelParams {
  std::string model_id;
  std::optional<bool> force;  // accepted, no effect (running streams always end)
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("force", s.force);
  }
};

struct CheckDraftParams {
  std::string primary_id;
  std::string draft_id;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("primary_id", s.primary_id);
    v("draft_id", s.draft_id);
  }
};

struct DraftModelInfo {
  std::string id;
  Nullable<std::int64_t> vocab_size;
  std::int64_t parameter_count = 0;
  std::string architecture;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("id", s.id);
    v("vocab_size", s.vocab_size);
    v("parameter_count", s.parameter_count);
    v("architecture", s.architecture);
  }
};

struct PerformanceEstimate {
  std::string expected_speedup;  // "1.23x"
  std::string size_ratio;        // "12.3%" or "N/A"
  std::string recommendation;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("expected_speedup", s.expected_speedup);
    v("size_ratio", s.size_ratio);
    v("recommendation", s.recommendation);
  }
};

struct CheckDraftDetails {
  DraftModelInfo primary_model;
  DraftModelInfo draft_model;
  PerformanceEstimate performance_estimate;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("primary_model", s.primary_model);
    v("draft_model", s.draft_model);
    v("performance_estimate", s.performance_estimate);
  }
};

struct CheckDraftResult {
  bool compatible = false;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  CheckDraftDetails details;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("compatible", s.compatible);
    v("errors", s.errors);
    v("warnings", s.warnings);
    v("details", s.details);
  }
};

struct LoadVisionModelParams {
  std::string model_id;
  std::optional<std::string> revision;
  std::optional<std::string> quantization;  // null | int4 | int8 | fp16 | bf16
  std::optional<std::string> local_path;
  std::optional<Json> vision_config;
  std::optional<Json> tokenizer_config;
  std::optional<Json> processor_config;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("revision", s.revision);
    v("quantization", s.quantization);
    v("local_path", s.local_path);
    v("vision_config", s.vision_config);
    v("tokenizer_config", s.tokenizer_config);
    v("processor_config", s.processor_config);
  }
};

struct LoadVisionModelResult {
  std::string model_id;
  std::string state = "ready";
  std::int64_t context_length = 0;
  std::string processor_type;
  Nullable<std::int64_t> image_size;
  std::string revision = "main";
  Nullable<std::string> quantization;
  std::string dtype = "unknown";
  bool is_vision_model = true;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("state", s.state);
    v("context_length", s.context_length);
    v("processor_type", s.processor_type);
    v("image_size", s.image_size);
    v("revision", s.revision);
    v("quantization", s.quantization);
    v("dtype", s.dtype);
    v("is_vision_model", s.is_vision_model);
  }
};

}  // namespace mlxs::protocol
