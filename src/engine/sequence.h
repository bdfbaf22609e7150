#pragma once
// One generated sequence as the scheduler sees it, and its lifecycle as an
// explicit state machine (../shared/DESIGN.md §3.3): one enum of states, one of
// events, one pure transition function.

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "engine/block_pool.h"
#include "model/placed_image.h"

namespace mlxs::engine {

enum class Priority : std::uint8_t { kInteractive, kBatch };
inline constexpr int kPriorityClasses = 2;
std::string_view priority_name(Priority p);

enum class SeqState : std::uint8_t {
  kWaiting,     // admitted to the queue, no KV yet
  kPrefilling,  // computing its prompt (possibly in chunks)
  kDecoding,    // one new token per step
  kPreempted,   // KV dropped to make room; waits to be recomputed
  kFinished,    // terminal
};
inline constexpr int kSeqStateCount = 5;

enum class SeqEvent : std::uint8_t {
  kSchedule,    // gets KV and its first chunk
  kPromptDone,  // the last prompt token was computed: decoding starts
  kPreempt,     // its KV is taken away
  kFinish,      // stop condition met (eos, stop string, max tokens)
  kCancel,      // client gone or explicit cancel
  kTimeout,     // deadline passed
  kFail,        // an error while computing it
};
inline constexpr int kSeqEventCount = 7;

std::string_view seq_state_name(SeqState s);
std::string_view seq_event_name(SeqEvent e);

// The one place that says which lifecycle moves are legal.
core::Result<SeqState> transition(SeqState state, SeqEvent event);

enum class FinishReason : std::uint8_t {
  kNone,
  kStop,    // eos, stop token or stop string
  kLength,  // max_tokens (or the context limit)
  kCancelled,
  kTimeout,
  kError,
  kBackpressure,  // the consumer fell too far behind
};
std::string_view finish_reason_name(FinishReason r);

using SeqId = std::uint64_t;

inline constexpr std::int32_t kPendingToken = -1;

struct SeqTimes {
  core::Nanos queued = 0;
  core::Nanos first_scheduled = 0;
  core::Nanos first_token = 0;
  core::Nanos finished = 0;
};

struct Sequence {
  SeqId id = 0;
  std::uint64_t group = 0;  // sequences of one request (n > 1) share it
  bool group_leader = true;
  Priority priority = Priority::kInteractive;
  SeqState state = SeqState::kWaiting;
  FinishReason finish = FinishReason::kNone;
  core::Nanos deadline = 0;  // 0: none
  SeqTimes times;

  std::vector<std::int32_t> tokens;  // prompt, then generated
  // Images whose rows replace placeholder tokens of the prompt, in order.
  std::vector<model::PlacedImage> images;
  // Its images are still to be encoded (by the step that first schedules it).
  bool images_unencoded = false;
  // The last token is a placeholder (kPendingToken) for one the device has
  // sampled and the host not yet read (the engine's overlap mode).
  bool pending = false;
  int prompt_len = 0;
  int max_new_tokens = 0;
  int num_computed = 0;       // tokens whose K/V are in the cache
  int num_cached_prompt = 0;  // of the prompt, found in the prefix cache
  std::vector<std::int32_t> blocks;
  std::vector<BlockHash> block_hashes;  // hash of each full block, in order
  int preemptions = 0;
  bool cancel_requested = false;
  FinishReason cancel_reason = FinishReason::kCancelled;

  // Counts a pending token.
  int generated() const { return static_cast<int>(tokens.size()) - prompt_len; }
};

}  // namespace mlxs::engine
