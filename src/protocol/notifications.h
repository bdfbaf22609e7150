#pragma once
// Runtime -> client notifications (compat/jsonrpc.md §5): stream.chunk (single
// or batched form), stream.stats, stream.event, and our extensions stream.step
// (one notification per engine step carrying every stream's new tokens) and
// model.load_progress.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/codec.h"

namespace mlxs::protocol {

inline constexpr std::string_view kStreamChunk = "stream.chunk";
inline constexpr std::string_view kStreamStats = "stream.stats";
inline constexpr std::string_view kStreamEvent = "stream.event";
inline constexpr std::string_view kStreamStep = "stream.step";
inline constexpr std::string_view kModelLoadProgress = "model.load_progress";

// Ours: one of a token's most likely alternatives (generate's top_logprobs).
struct TopLogprob {
  std::int32_t token_id = 0;
  std::string token;  // the alternative's text on its own
  double logprob = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("token_id", s.token_id);
    v("token", s.token);
    v("logprob", s.logprob);
  }
};

struct ChunkToken {
  std::string stream_id;
  std::string token;  // decoded text piece
  std::int32_t token_id = 0;
  bool is_final = false;  // always false: the end is the stream.event
  std::optional<double> logprob;
  std::optional<std::string> cumulative_text;           // never sent by us (lines would grow)
  std::optional<std::vector<TopLogprob>> top_logprobs;  // ours, when asked for
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("stream_id", s.stream_id);
    v("token", s.token);
    v("token_id", s.token_id);
    v("is_final", s.is_final);
    v("logprob", s.logprob);
    v("cumulative_text", s.cumulative_text);
    v("top_logprobs", s.top_logprobs);
  }
};

// One stream.chunk: one token is written in the single form, several in the
// batched form {"stream_id","tokens":[...],"batch_size","is_batch":true}.
struct StreamChunk {
  std::string stream_id;
  std::vector<ChunkToken> tokens;
};
Json to_json(const StreamChunk& chunk);
core::Result<StreamChunk> stream_chunk_from_json(const Json& params);

// Builds a stream.chunk line token by token so the writer can keep every line
// under its budget without serialising twice.
class ChunkLineBuilder {
 public:
  explicit ChunkLineBuilder(std::string stream_id);
  // Bytes the line would have with one more token of this serialised size.
  std::size_t size_with(std::size_t token_bytes) const;
  void add(const ChunkToken& token);
  // Serialises a token as it will appear in the line.
  static std::string token_json(const ChunkToken& token);
  void add_serialised(std::string token_json);
  std::size_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The full notification line (no newline); resets the builder.
  std::string take_line();

 private:
  std::string stream_id_;
  std::string stream_id_json_;
  std::string tokens_;  // comma-joined token objects
  std::string single_;  // the only token, for the single form
  std::size_t count_ = 0;
};

struct StreamStats {
  std::string stream_id;
  std::int64_t tokens_generated = 0;
  double tokens_per_second = 0;
  double time_to_first_token = 0;  // seconds
  double total_time = 0;           // seconds
  // Ours: prompt length and how much of it came from the prefix cache.
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::int64_t> cached_tokens;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("stream_id", s.stream_id);
    v("tokens_generated", s.tokens_generated);
    v("tokens_per_second", s.tokens_per_second);
    v("time_to_first_token", s.time_to_first_token);
    v("total_time", s.total_time);
    v("prompt_tokens", s.prompt_tokens);
    v("cached_tokens", s.cached_tokens);
  }
};

// The completion `stats` object of the original's runtime-only batchers.
struct BatcherStats {
  std::string finish_reason;
  std::int64_t tokens_generated = 0;
  std::optional<double> duration_ms;
  std::optional<double> ttft_ms;
  std::optional<double> tokens_per_sec;
  std::optional<std::string> error;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("finish_reason", s.finish_reason);
    v("tokens_generated", s.tokens_generated);
    v("duration_ms", s.duration_ms);
    v("ttft_ms", s.ttft_ms);
    v("tokens_per_sec", s.tokens_per_sec);
    v("error", s.error);
  }
};

struct StreamEvent {
  std::string stream_id;
  std::string event;  // "completed" | "error"
  bool is_final = true;
  std::optional<std::string> finish_reason;  // completed
  std::optional<std::string> error;          // error: the message
  std::optional<std::string> code;           // ours, on errors: the machine code
  std::optional<BatcherStats> stats;         // runtime-only batchers
  // Ours: as in stream.stats (also on error events, when the prompt was read).
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::int64_t> cached_tokens;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("stream_id", s.stream_id);
    v("event", s.event);
    v("is_final", s.is_final);
    v("finish_reason", s.finish_reason);
    v("error", s.error);
    v("code", s.code);
    v("stats", s.stats);
    v("prompt_tokens", s.prompt_tokens);
    v("cached_tokens", s.cached_tokens);
  }
};

// Ours (extension "stream.step"): one engine step of one model.
struct StepStream {
  std::string stream_id;
  std::vector<std::int32_t> token_ids;
  std::string text;  // the text these tokens completed (may lag or be empty)
  std::optional<std::vector<double>> logprobs;
  // One list per token of token_ids, when the stream asked for top_logprobs.
  std::optional<std::vector<std::vector<TopLogprob>>> top_logprobs;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("stream_id", s.stream_id);
    v("token_ids", s.token_ids);
    v("text", s.text);
    v("logprobs", s.logprobs);
    v("top_logprobs", s.top_logprobs);
  }
};

struct StreamStep {
  std::string model_id;
  std::uint64_t step = 0;  // per model, increasing; a step split over lines repeats it
  std::vector<StepStream> streams;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("step", s.step);
    v("streams", s.streams);
  }
};

// Ours (extension "model.load_progress"): how far a load_model has got
// binding the checkpoint's tensors, sent while the load runs (at most a few
// per second, the last one always) and only to a client that asked for it.
struct LoadProgressNotice {
  std::string model_id;
  std::int64_t done_bytes = 0;
  std::int64_t total_bytes = 0;
  std::int64_t tensors_done = 0;
  std::int64_t tensors_total = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("done_bytes", s.done_bytes);
    v("total_bytes", s.total_bytes);
    v("tensors_done", s.tensors_done);
    v("tensors_total", s.tensors_total);
  }
};

}  // namespace mlxs::protocol
