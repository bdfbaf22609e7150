#pragma once
// One OpenAI completion request in flight: its choices' generate calls, the
// tokens they stream back, and the answer (one JSON document, or an SSE
// stream). Gateway callbacks arrive on control-plane threads and are posted
// to the connection's strand, where all of this object's state lives.
//
// The answer starts only once every choice was accepted and (when streamed)
// the first token came, so a refusal of any (QueueFull, ModelNotLoaded,
// invalid guidance ...) is an ordinary HTTP error with its status (429 +
// Retry-After for QueueFull); the others are then cancelled. A failure after
// the stream began is an error event. A client
// that goes away cancels every stream of the request.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/gateway.h"
#include "server/http_session.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/request_trace.h"

namespace mlxs::server {

class GenerationJob : public ClientWatch, public std::enable_shared_from_this<GenerationJob> {
 public:
  // `traceparents`: the request's traceparent header values (for its trace).
  GenerationJob(std::shared_ptr<HttpSession> session, ServerContext& ctx, CompletionPlan plan,
                const std::vector<std::string>& traceparents = {});
  ~GenerationJob() override;

  // On the session's strand: starts every choice.
  void start();
  void client_gone() override;

  // Gateway events, on the strand.
  void on_accepted(std::size_t i, core::Result<core::Json> result);
  void on_tokens(std::size_t i, const protocol::StepStream& step);
  void on_stats(std::size_t i, const protocol::StreamStats& stats);
  void on_end(std::size_t i, const protocol::StreamEvent& event);

 private:
  enum class Phase : std::uint8_t { kStarting, kStreaming, kDone };
  struct Choice {
    std::string stream_id;
    bool accepted = false;
    bool ended = false;
    bool counted_running = false;
    std::optional<core::Status> error;
    std::string finish_reason = "stop";
    std::string text;
    std::vector<TokenRecord> tokens;
    std::size_t sent_text = 0;    // bytes of text already streamed
    std::size_t sent_tokens = 0;  // tokens whose logprobs were streamed
    core::Nanos last_token_ns = 0;
    std::int64_t prompt_tokens = 0;
    std::int64_t cached_tokens = 0;
  };

  void all_accepted();
  void maybe_begin_stream();
  void flush(std::size_t i);
  void finish_choice(std::size_t i);
  void finish();
  void cancel_started();
  Usage usage() const;
  void release_gauges(Choice& c);
  RequestOutcome outcome() const;

  std::shared_ptr<HttpSession> session_;
  ServerContext& ctx_;
  CompletionPlan plan_;
  ResponseMeta meta_;
  std::vector<Choice> choices_;
  std::size_t replies_ = 0;  // accepted callbacks received
  std::size_t ended_ = 0;
  Phase phase_ = Phase::kStarting;
  std::optional<core::Status> start_error_;
  bool counted_stream_ = false;
  bool sse_started_ = false;
  bool client_gone_ = false;
  // Kept for the trace, which is recorded after the session may be gone.
  std::string request_id_;
  core::Nanos received_ns_ = 0;
  std::string priority_;
  RequestTrace trace_;
};

}  // namespace mlxs::server
