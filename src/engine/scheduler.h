#pragma once
// Continuous batching as a plain data-structure machine: no device calls, an
// injected clock, deterministic. Every step it decides which sequences decode
// and which prefill (in chunks) under a token budget, admits by priority class
// with aging, preempts by recompute when KV blocks run out, and ends
// sequences that were cancelled or passed their deadline, freeing their
// blocks. The engine runs the plan and reports back with complete().

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "engine/block_pool.h"
#include "engine/sequence.h"

namespace mlxs::engine {

struct SchedulerConfig {
  int max_batch_tokens = 512;                       // token budget of one step
  int max_seqs = 64;                                // sequences in one step
  int prefill_chunk = 512;                          // longest prompt piece of one sequence per step
  int max_context = 4096;                           // prompt + generated
  int max_waiting[kPriorityClasses] = {256, 1024};  // admission limit per class
  core::Nanos aging_ns = 2'000'000'000;  // batch work waiting longer competes as interactive
  int max_preemptions = 3;               // a sequence preempted this often is not chosen again
  // Image rows attend to their whole image (Gemma 3): a prefill chunk never
  // ends inside an image.
  bool whole_images = false;
  // Image tokens whose vision tower runs in one step (a request's images are
  // encoded whole in the step that first schedules it): admissions stop at
  // the request that would go over, so a burst of image requests is spread
  // over steps instead of stalling every running stream behind the towers.
  // The first image request of a step is always taken. 0: max_batch_tokens.
  int max_image_tokens_per_step = 0;
};

struct SeqSpec {
  SeqId id = 0;
  std::uint64_t group = 0;   // 0: its own group
  bool group_leader = true;  // followers wait until the leader's prompt is computed
  Priority priority = Priority::kInteractive;
  std::vector<std::int32_t> prompt;
  std::vector<model::PlacedImage> images;  // in order, within the prompt
  int max_new_tokens = 16;
  core::Nanos deadline = 0;  // absolute; 0: none
};

// One sequence's share of a step.
struct PlanEntry {
  SeqId id = 0;
  int begin = 0;              // first token (index into the sequence's tokens) to compute
  int count = 0;              // tokens computed this step
  bool wants_logits = false;  // the last of them is the sequence's newest token
};

struct StepPlan {
  std::vector<PlanEntry> entries;  // decodes first, then prefills
  std::vector<SeqId> finished;     // ended before this step (cancel, timeout)
  std::vector<SeqId> preempted;    // lost their KV this step
  int tokens = 0;
  bool empty() const { return entries.empty(); }
};

// What the engine learned for one entry that wanted logits.
struct StepOutcome {
  SeqId id = 0;
  std::int32_t token = -1;                    // appended unless finish says otherwise
  FinishReason finish = FinishReason::kNone;  // ends the sequence (token kept if >= 0)
};

struct SchedulerStats {
  int waiting[kPriorityClasses] = {0, 0};
  int running = 0;
  std::uint64_t preemptions = 0;
  std::uint64_t admitted = 0;
  std::uint64_t finished = 0;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t cached_prompt_tokens = 0;
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, BlockPool& blocks, const core::Clock& clock);

  // QueueFull when the class's queue is at its limit; InvalidParams for an
  // empty or too long prompt or a duplicate id.
  core::Status add(SeqSpec spec);
  // Takes effect at the next schedule(): the sequence ends and frees its blocks.
  void cancel(SeqId id, FinishReason reason = FinishReason::kCancelled);

  const StepPlan& schedule();
  // The last plan was launched: its tokens count as computed, and each entry
  // that wanted logits gets a pending token (Sequence::pending) that the
  // next schedule() may already feed to the device as a placeholder.
  void commit();
  // The committed steps' tokens, by sequence (any order; sequences that
  // ended meanwhile are skipped): each replaces its pending token, or drops
  // it when negative, and ends its sequence when finish says so or a limit
  // is reached.
  core::Status resolve(std::span<const StepOutcome> outcomes);
  // commit() then resolve(): every entry with wants_logits needs an outcome,
  // in plan order.
  core::Status complete(std::span<const StepOutcome> outcomes);

  const Sequence* find(SeqId id) const;
  // Finished sequences stay readable until released.
  void release(SeqId id);

  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return config_; }
  bool idle() const { return running_.empty() && waiting_count() == 0; }
  int waiting_count() const;
  // Highest class with work and how long its oldest item has waited (for the
  // device arbiter).
  bool has_work(Priority* top, core::Nanos* oldest_wait) const;

 private:
  Sequence& seq(SeqId id) { return *seqs_.at(id); }
  void finish(Sequence& s, SeqEvent event, FinishReason reason);
  void free_blocks(Sequence& s);
  void preempt(Sequence& s);
  bool ensure_blocks(Sequence& s, int tokens_needed);
  Sequence* pick_victim(const Sequence& requester, bool strictly_lower_class);
  void match_prefix(Sequence& s);
  // Hash of full block `i` of `s` chained to `parent`: its tokens and the
  // content of the images whose rows it holds.
  BlockHash block_hash(const Sequence& s, std::size_t i, BlockHash parent) const;
  // A prefill chunk of at most `want` tokens from s.num_computed, shortened
  // so as not to end inside an image when images are computed whole.
  int image_chunk(const Sequence& s, int want) const;
  void register_full_blocks(Sequence& s);
  Priority effective_class(const Sequence& s, core::Nanos now) const;
  bool group_ready(const Sequence& s) const;
  void move_state(Sequence& s, SeqEvent event);

  SchedulerConfig config_;
  BlockPool& blocks_;
  const core::Clock& clock_;
  std::unordered_map<SeqId, std::unique_ptr<Sequence>> seqs_;
  std::deque<SeqId> waiting_[kPriorityClasses];  // preempted ones go to the front
  std::vector<SeqId> running_;                   // prefilling or decoding
  std::unordered_map<std::uint64_t, bool> group_prompt_done_;
  StepPlan plan_;
  SchedulerStats stats_;
};

}  // namespace mlxs::engine
