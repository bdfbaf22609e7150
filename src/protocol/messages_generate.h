#pragma once
// Messages that start token streams: generate, batch_generate,
// generate_with_image and the original's runtime-only batchers
// (compat/jsonrpc.md §4.7-4.11, 4.17).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/codec.h"

namespace mlxs::protocol {

// Structured output (compat/jsonrpc.md §4.7.1).
struct GuidanceParams {
  std::string mode = "json_schema";  // "json_schema" | "xml"
  Json schema;                       // object (json_schema) or string (xml)
  std::optional<std::string> model_id;
  std::optional<double> temperature;  // accepted, no effect
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("mode", s.mode);
    v("schema", s.schema);
    v("model_id", s.model_id);
    v("temperature", s.temperature);
  }
};

struct GenerateParams {
  std::string model_id;
  std::string prompt;
  std::optional<std::string> stream_id;  // a fresh UUID when absent
  std::optional<bool> streaming;         // always streams
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  std::optional<double> repetition_penalty;
  std::vector<std::string> stop_sequences;
  std::vector<std::int64_t> stop_token_ids;
  std::optional<std::uint64_t> seed;
  std::optional<GuidanceParams> guidance;
  std::optional<std::string> draft_model;  // accepted; no speculative decoding
  // The original ignores these; we use them when `prompt` is empty.
  std::vector<std::int64_t> prompt_tokens;
  std::optional<std::string> required_dtype;
  // Ours.
  std::optional<Json> messages;  // chat messages, rendered with the model's template
  // Vision models: image sources, one per "<image>" of `prompt` (one is put
  // first when it has none); with `messages`, images are content parts.
  std::vector<std::string> images;
  std::optional<bool> logprobs;  // adds `logprob` to every chunk token
  std::optional<std::int64_t> top_k;
  std::optional<double> min_p;
  // Ours, for the OpenAI-compatible server (issue 6).
  // Token id (decimal string, as OpenAI's) -> bias added to its logit, in [-100, 100].
  std::optional<std::map<std::string, double>> logit_bias;
  // 0-20 most likely alternatives of every token, carried in `top_logprobs` of
  // chunk tokens and stream.step entries (also turns `logprob` on).
  std::optional<std::int64_t> top_logprobs;
  std::optional<std::string> priority;     // "interactive" (default) | "batch"
  std::optional<bool> ignore_eos;          // keep going past end-of-sequence tokens
  std::optional<std::int64_t> min_tokens;  // no end-of-sequence before this many tokens
  // Engine deadline from the start; past it the stream ends with a Timeout error event.
  std::optional<std::int64_t> timeout_ms;
  // Ours, for tracing and logs (issue 12): the caller's W3C trace context
  // and its HTTP request id.
  std::optional<std::string> traceparent;
  std::optional<std::string> request_id;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("prompt", s.prompt);
    v("stream_id", s.stream_id);
    v("streaming", s.streaming);
    v("max_tokens", s.max_tokens);
    v("temperature", s.temperature);
    v("top_p", s.top_p);
    v("presence_penalty", s.presence_penalty);
    v("frequency_penalty", s.frequency_penalty);
    v("repetition_penalty", s.repetition_penalty);
    v("stop_sequences", s.stop_sequences);
    v("stop_token_ids", s.stop_token_ids);
    v("seed", s.seed);
    v("guidance", s.guidance);
    v("draft_model", s.draft_model);
    v("prompt_tokens", s.prompt_tokens);
    v("required_dtype", s.required_dtype);
    v("messages", s.messages);
    v("images", s.images);
    v("logprobs", s.logprobs);
    v("top_k", s.top_k);
    v("min_p", s.min_p);
    v("logit_bias", s.logit_bias);
    v("top_logprobs", s.top_logprobs);
    v("priority", s.priority);
    v("ignore_eos", s.ignore_eos);
    v("min_tokens", s.min_tokens);
    v("timeout_ms", s.timeout_ms);
    v("traceparent", s.traceparent);
    v("request_id", s.request_id);
  }
};

struct GenerateResult {
  std::string stream_id;
  double started_at = 0.0;  // Unix epoch seconds
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("stream_id", s.stream_id);
    v("started_at", s.started_at);
  }
};

// The entries of batch calls stay raw: each is validated on its own, and a
// bad entry fails only itself (as in the original).
struct BatchParams {
  std::vector<Json> requests;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("requests", s.requests);
  }
};

// One entry of a batch answer: {"success", "result", "error"}.
template <class T>
struct BatchEntry {
  bool success = false;
  Nullable<T> result;
  Nullable<std::string> error;  // the message only (the original drops the code)
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("success", s.success);
    v("result", s.result);
    v("error", s.error);
  }
};

template <class T>
struct BatchResult {
  std::vector<BatchEntry<T>> results;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("results", s.results);
  }
};

using BatchGenerateResult = BatchResult<GenerateResult>;

struct GenerateWithImageParams {
  std::string model_id;
  std::string prompt;
  std::string image;  // base64, optionally a data: URI
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::string> stream_id;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("prompt", s.prompt);
    v("image", s.image);
    v("max_tokens", s.max_tokens);
    v("temperature", s.temperature);
    v("top_p", s.top_p);
    v("stream_id", s.stream_id);
  }
};

// batch_generate_parallel entries (runtime-only in the original).
struct ParallelRequest {
  std::string model_id;
  std::optional<std::string> request_id;
  std::optional<std::string> stream_id;
  std::string prompt;
  std::int64_t max_tokens = 512;
  double temperature = 1.0;
  double top_p = 1.0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("request_id", s.request_id);
    v("stream_id", s.stream_id);
    v("prompt", s.prompt);
    v("max_tokens", s.max_tokens);
    v("temperature", s.temperature);
    v("top_p", s.top_p);
  }
};

struct BatchGenerateParallelParams {
  std::vector<ParallelRequest> requests;
  std::int64_t batch_size = 4;  // accepted; the engine batches continuously
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("requests", s.requests);
    v("batch_size", s.batch_size);
  }
};

struct ContinuousGenerateParams {
  std::string model_id;
  std::string prompt;
  std::int64_t max_tokens = 512;
  double temperature = 1.0;
  double top_p = 1.0;
  std::optional<std::string> stream_id;
  std::optional<std::string> request_id;
  std::optional<std::int64_t> timeout_ms;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("prompt", s.prompt);
    v("max_tokens", s.max_tokens);
    v("temperature", s.temperature);
    v("top_p", s.top_p);
    v("stream_id", s.stream_id);
    v("request_id", s.request_id);
    v("timeout_ms", s.timeout_ms);
  }
};

// get_batcher_metrics, get_batcher_health, get_week4_metrics.
struct BatcherQueryParams {
  std::string model_id;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
  }
};

struct LatencySummary {
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, min_ms = 0, max_ms = 0, mean_ms = 0;
  std::int64_t count = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("p50_ms", s.p50_ms);
    v("p95_ms", s.p95_ms);
    v("p99_ms", s.p99_ms);
    v("min_ms", s.min_ms);
    v("max_ms", s.max_ms);
    v("mean_ms", s.mean_ms);
    v("count", s.count);
  }
};

struct RateWindows {
  double w5s = 0, w30s = 0, w60s = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("5s", s.w5s);
    v("30s", s.w30s);
    v("60s", s.w60s);
  }
};

struct ThroughputSummary {
  RateWindows tokens_per_second;
  RateWindows requests_per_second;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("tokens_per_second", s.tokens_per_second);
    v("requests_per_second", s.requests_per_second);
  }
};

struct BatchSizeSummary {
  std::int64_t current_size = 0, min_size = 0, max_size = 0;
  double mean_size = 0;
  Json distribution = Json::object();  // {"<size>": count}
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("current_size", s.current_size);
    v("min_size", s.min_size);
    v("max_size", s.max_size);
    v("mean_size", s.mean_size);
    v("distribution", s.distribution);
  }
};

struct BatcherMetricsResult {
  LatencySummary latency;
  ThroughputSummary throughput;
  BatchSizeSummary batch;
  std::int64_t queue_depth = 0;
  std::int64_t mode_transitions = 0;
  double uptime_seconds = 0;
  double timestamp = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("latency", s.latency);
    v("throughput", s.throughput);
    v("batch", s.batch);
    v("queue_depth", s.queue_depth);
    v("mode_transitions", s.mode_transitions);
    v("uptime_seconds", s.uptime_seconds);
    v("timestamp", s.timestamp);
  }
};

struct BatcherHealthResult {
  bool healthy = true;
  bool running = true;
  std::int64_t active_batch_size = 0;
  std::int64_t pending_queue_size = 0;
  std::int64_t total_requests = 0;
  std::int64_t completed_requests = 0;
  std::int64_t max_batch_size = 0;
  std::vector<std::string> error_indicators;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("healthy", s.healthy);
    v("running", s.running);
    v("active_batch_size", s.active_batch_size);
    v("pending_queue_size", s.pending_queue_size);
    v("total_requests", s.total_requests);
    v("completed_requests", s.completed_requests);
    v("max_batch_size", s.max_batch_size);
    v("error_indicators", s.error_indicators);
  }
};

struct MemoryControllerReport {
  bool enabled = false;
  double current_limit = 0, utilization = 0, active_memory_gb = 0;
  std::int64_t oom_prevented = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("enabled", s.enabled);
    v("current_limit", s.current_limit);
    v("utilization", s.utilization);
    v("active_memory_gb", s.active_memory_gb);
    v("oom_prevented", s.oom_prevented);
  }
};

struct PromptCacheReport {
  bool enabled = false;
  std::int64_t cache_size = 0;
  double hit_rate = 0;
  std::int64_t total_requests = 0;
  std::int64_t cache_hits = 0;
  double memory_mb = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("enabled", s.enabled);
    v("cache_size", s.cache_size);
    v("hit_rate", s.hit_rate);
    v("total_requests", s.total_requests);
    v("cache_hits", s.cache_hits);
    v("memory_mb", s.memory_mb);
  }
};

struct Week4Features {
  MemoryControllerReport memory_controller;
  PromptCacheReport prompt_cache;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("memory_controller", s.memory_controller);
    v("prompt_cache", s.prompt_cache);
  }
};

struct Week4Performance {
  std::int64_t total_requests = 0, completed_requests = 0;
  double avg_batch_size = 0;
  std::int64_t max_batch_size = 0, active_batch_size = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("total_requests", s.total_requests);
    v("completed_requests", s.completed_requests);
    v("avg_batch_size", s.avg_batch_size);
    v("max_batch_size", s.max_batch_size);
    v("active_batch_size", s.active_batch_size);
  }
};

struct Week4MetricsResult {
  Week4Features week4_features;
  Week4Performance performance;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("week4_features", s.week4_features);
    v("performance", s.performance);
  }
};

}  // namespace mlxs::protocol
