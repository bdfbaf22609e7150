#include "engine/sequence.h"

namespace mlxs::engine {

std::string_view priority_name(Priority p) {
  switch (p) {
    case Priority::kInteractive:
      return "interactive";
    case Priority::kBatch:
      return "batch";
  }
  return "interactive";
}

std::string_view seq_state_name(SeqState s) {
  switch (s) {
    case SeqState::kWaiting:
      return "waiting";
    case SeqState::kPrefilling:
      return "prefilling";
    case SeqState::kDecoding:
      return "decoding";
    case SeqState::kPreempted:
      return "preempted";
    case SeqState::kFinished:
      return "finished";
  }
  return "unknown";
}

std::string_view seq_event_name(SeqEvent e) {
  switch (e) {
    case SeqEvent::kSchedule:
      return "schedule";
    case SeqEvent::kPromptDone:
      return "prompt_done";
    case SeqEvent::kPreempt:
      return "preempt";
    case SeqEvent::kFinish:
      return "finish";
    case SeqEvent::kCancel:
      return "cancel";
    case SeqEvent::kTimeout:
      return "timeout";
    case SeqEvent::kFail:
      return "fail";
  }
  return "unknown";
}

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kTimeout:
      return "timeout";
    case FinishReason::kError:
      return "error";
    case FinishReason::kBackpressure:
      return "backpressure";
  }
  return "none";
}

core::Result<SeqState> transition(SeqState state, SeqEvent event) {
  auto illegal = [&]() -> core::Result<SeqState> {
    return core::make_error(core::ErrorCode::kInternalError, "sequence: {} is not allowed while {}",
                            seq_event_name(event), seq_state_name(state));
  };
  switch (state) {
    case SeqState::kWaiting:
    case SeqState::kPreempted:
      switch (event) {
        case SeqEvent::kSchedule:
          return SeqState::kPrefilling;
        case SeqEvent::kCancel:
        case SeqEvent::kTimeout:
        case SeqEvent::kFail:
          return SeqState::kFinished;
        // A preempted sequence's pending token (overlap mode), read after it
        // lost its KV, can end it (eos, stop, max_tokens).
        case SeqEvent::kFinish:
          if (state == SeqState::kPreempted) return SeqState::kFinished;
          return illegal();
        case SeqEvent::kPromptDone:
        case SeqEvent::kPreempt:
          return illegal();
      }
      break;
    case SeqState::kPrefilling:
      switch (event) {
        case SeqEvent::kPromptDone:
          return SeqState::kDecoding;
        case SeqEvent::kPreempt:
          return SeqState::kPreempted;
        // A prompt's first sampled token can already end it (eos, max_tokens 1).
        case SeqEvent::kFinish:
        case SeqEvent::kCancel:
        case SeqEvent::kTimeout:
        case SeqEvent::kFail:
          return SeqState::kFinished;
        case SeqEvent::kSchedule:
          return illegal();
      }
      break;
    case SeqState::kDecoding:
      switch (event) {
        case SeqEvent::kPreempt:
          return SeqState::kPreempted;
        case SeqEvent::kFinish:
        case SeqEvent::kCancel:
        case SeqEvent::kTimeout:
        case SeqEvent::kFail:
          return SeqState::kFinished;
        case SeqEvent::kSchedule:
        case SeqEvent::kPromptDone:
          return illegal();
      }
      break;
    case SeqState::kFinished:
      switch (event) {
        case SeqEvent::kSchedule:
        case SeqEvent::kPromptDone:
        case SeqEvent::kPreempt:
        case SeqEvent::kFinish:
        case SeqEvent::kCancel:
        case SeqEvent::kTimeout:
        case SeqEvent::kFail:
          return illegal();
      }
      break;
  }
  return illegal();
}

}  // namespace mlxs::engine
