#pragma once
// One model's serving engine: requests in, streams out. Each step it takes new
// requests and cancellations, asks the scheduler for a plan, runs the model on
// it, samples, detokenizes, applies stop conditions and feeds every request's
// stream. submit() and cancel() may be called from any thread; step() and
// run() belong to one engine thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stop_token>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "engine/arbiter.h"
#include "engine/block_pool.h"
#include "engine/constraint.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "engine/scheduler.h"
#include "engine/stop_matcher.h"
#include "engine/stream.h"
#include "engine/tp_group.h"
#include "model/model.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::engine {

struct EngineConfig {
  SchedulerConfig scheduler;
  int kv_blocks = 0;  // 0: from kv_memory_bytes
  std::size_t kv_memory_bytes = std::size_t{1} << 30;
  int block_size = 16;
  bool prefix_caching = true;
  StreamLimits stream_limits;
  ParamLimits param_limits;
  int max_n = 16;  // choices per request
  // Temperature sampling on the device where the backend can (only token ids
  // cross back); off: every sampled row is drawn by the host sampler.
  bool device_sampling = true;
  // Overlap mode, on a backend that resolves placeholder tokens: step n + 1
  // is scheduled and launched while the device still computes step n, its
  // new tokens read where step n sampled them; the host then reads step n's
  // tokens while step n + 1 runs. A step whose rows the host samples (bias,
  // penalties, logprobs) is finished before the next is scheduled. Auto:
  // on for devices that compute asynchronously; on the CPU, where a step
  // computes when issued, overlap would only delay each token by a step.
  enum class Overlap : std::uint8_t { kAuto, kOn, kOff };
  Overlap overlap = Overlap::kAuto;
};

// An image of a vision model's prompt: its pixels as the model's processor
// lays them out (model::ImageInput) and the prompt index of the first of its
// placeholder tokens, which it fills.
struct RequestImage {
  std::vector<float> pixels;
  std::int64_t grid_t = 1;
  std::int64_t grid_h = 0;
  std::int64_t grid_w = 0;
  std::int32_t begin = 0;
};

struct GenerateRequest {
  std::vector<std::int32_t> prompt;
  // Vision models: the images, in prompt order. Every image placeholder
  // token of the prompt is one of theirs.
  std::vector<RequestImage> images;
  SamplingParams sampling;
  StopParams stop;
  int n = 1;
  Priority priority = Priority::kInteractive;
  core::Nanos timeout_ns = 0;  // 0: none
  bool skip_special_tokens = true;
  // Structured output: null leaves generation free.
  std::shared_ptr<const Constraint> constraint;
};

struct EngineMetrics {
  int waiting[kPriorityClasses] = {0, 0};
  int running = 0;
  int active_requests = 0;
  std::uint64_t preemptions = 0;
  int kv_blocks_total = 0;
  int kv_blocks_used = 0;
  int kv_blocks_cached_free = 0;
  std::uint64_t prefix_queries = 0;
  std::uint64_t prefix_hits = 0;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t cached_prompt_tokens = 0;
  std::uint64_t generated_tokens = 0;
  std::uint64_t steps = 0;
  std::uint64_t requests_finished = 0;
  // Wall time of the steps that did work, and the part spent waiting for
  // the step's logits (the device computing, on a GPU); the rest is host
  // work the device does not overlap.
  std::uint64_t step_ns = 0;
  std::uint64_t device_wait_ns = 0;
  // Steps launched before the previous step's tokens were read (overlap).
  std::uint64_t overlapped_steps = 0;
  // The device's time over the steps (Backend::device_timeline), in µs:
  // busy from a step's first work to its logits, idle from one step's logits
  // to the next step's first work. Zero where the backend does not measure.
  std::uint64_t device_busy_us = 0;
  std::uint64_t device_idle_us = 0;
  // Images the vision tower ran on; an image found in the prefix cache
  // costs none.
  std::uint64_t images_encoded = 0;
};

class Engine {
 public:
  // `tokenizer` may be null: requests then work on token ids only (no text,
  // no stop strings). Under tensor parallelism `model` is rank 0 and `group`
  // (which must outlive the engine) runs the other ranks on every step; the
  // overlap mode then needs a backend that hands rank 0's sampled ids to the
  // followers (Backend::shares_sampled_ids), and is off elsewhere.
  static core::Result<std::unique_ptr<Engine>> create(model::Model& model,
                                                      const tokenizer::Tokenizer* tokenizer,
                                                      const EngineConfig& config,
                                                      const core::Clock& clock,
                                                      TensorParallelGroup* group = nullptr);
  ~Engine();

  // Validates and queues; errors are InvalidParams (bad input) or QueueFull.
  core::Result<std::shared_ptr<Stream>> submit(GenerateRequest request);
  void cancel(std::uint64_t request_id);

  // One step; false when there was nothing to do.
  core::Result<bool> step();
  // Steps until stopped, sleeping while idle. With an arbiter, each step
  // first acquires the shared device as engine `engine_index`.
  void run(std::stop_token stop, DeviceArbiter* arbiter = nullptr, int engine_index = 0);
  // Wakes run() (new work, shutdown).
  void wake();

  // Set once the tensor-parallel group failed: every stream ended with
  // WorkerCrashed and new requests are refused; the worker should go down
  // and be restarted. Safe from any thread.
  bool broken() const { return broken_.load(); }

  // A snapshot published at the end of every step; safe from any thread.
  EngineMetrics metrics() const;
  const model::Model& model() const { return model_; }
  const EngineConfig& config() const { return config_; }
  // Engine thread only (they read the scheduler).
  bool has_work() const;
  bool has_work(Priority* top, core::Nanos* oldest_wait) const;

 private:
  struct RequestState;
  struct SeqRuntime;
  Engine(model::Model& model, const tokenizer::Tokenizer* tokenizer, const EngineConfig& config,
         const core::Clock& clock, std::unique_ptr<tensor::KvStorage> kv, int kv_blocks,
         TensorParallelGroup* group);

  void take_inbox();
  // Checks a request's images against its prompt and the model.
  core::Status validate_images(const GenerateRequest& request) const;
  // Where a request's images go in its prompt, with room for their rows.
  core::Result<std::vector<model::PlacedImage>> place_images(RequestState& request);
  // Runs the vision tower on the request's images whose rows fall in
  // [lo, hi) and are not encoded yet (its choices share them). An image
  // inside the prompt's cached prefix is never encoded unless a recompute
  // needs its rows again.
  core::Status encode_images(RequestState& request, std::span<const model::PlacedImage> placed,
                             int lo, int hi);
  void publish_metrics();
  void end_sequence(SeqId id);
  // Builds the step's batch (placeholders for pending tokens) and runs the
  // model's forward pass on it: queued on a device, done on the CPU.
  core::Result<tensor::Tensor> launch_forward(const StepPlan& plan);
  // Asks the backend for what sampling needs of the logits, commits the plan
  // and leaves its rows pending.
  core::Status launch_sampling(const StepPlan& plan, const tensor::Tensor& logits,
                               core::Nanos began);
  // Per logit row: whether the host needs the whole row, and the masks of the
  // constrained ones (filled while the device runs the step).
  void prepare_sampling(const StepPlan& plan);
  // Reads the pending step's tokens (waiting for the device if need be),
  // detokenizes, applies stop conditions, feeds the streams and hands the
  // outcomes to the scheduler.
  core::Status resolve_pending();
  // Ends every sequence of the plan and of the pending step with an error.
  void fail_step(const StepPlan& plan, const core::Status& error);
  // The tensor-parallel group failed: every sequence and queued request
  // ends with fatal_ (WorkerCrashed); their ids go to ended_.
  void fail_all();
  // Under tensor parallelism: a device error of rank 0 ends the group.
  void abort_group_on_device_error(const core::Status& error);
  // Tracing: which prefill chunks the step from `begin` to `end` computed.
  void record_prefill_chunks(std::span<const PlanEntry> chunks, core::Nanos begin, core::Nanos end);

  model::Model& model_;
  TensorParallelGroup* group_;  // null for a whole model
  const tokenizer::Tokenizer* tokenizer_;
  EngineConfig config_;
  const core::Clock& clock_;
  std::unique_ptr<tensor::KvStorage> kv_;
  BlockPool blocks_;
  Scheduler scheduler_;
  Sampler sampler_;
  bool device_draws_;  // sampled rows are drawn where the logits are
  bool overlap_;       // config overlap on a backend that resolves placeholders
  std::vector<std::int32_t> eos_ids_;

  // Engine-thread state.
  std::unordered_map<std::uint64_t, std::shared_ptr<RequestState>> requests_;
  std::unordered_map<SeqId, std::unique_ptr<SeqRuntime>> seqs_;
  SeqId next_seq_ = 1;
  std::vector<std::int32_t> batch_tokens_, batch_positions_, batch_logit_rows_;
  std::vector<tensor::SeqSlice> batch_slices_;
  std::vector<std::span<const model::PlacedImage>> batch_images_;  // per slice
  model::StepImages step_images_;
  std::vector<std::uint8_t> full_rows_;          // per logit row: sampled on the host
  std::vector<std::int32_t> masked_rows_;        // logit rows with a mask in masks_
  std::vector<std::uint32_t> masks_;             // their allowed-token bitmasks
  std::vector<tensor::Backend::RowDraw> draws_;  // rows the device samples
  std::vector<StepOutcome> outcomes_;
  // The launched step whose tokens are not read yet: one entry per logit
  // row (its sequence, and whether the host samples it).
  struct PendingRow {
    SeqId id = 0;
    bool host_sampled = false;
  };
  std::vector<PendingRow> pending_, resolving_;
  bool pending_overlaps_ = false;  // the next step may be launched before it is read
  core::Nanos pending_began_ = 0;
  std::vector<PlanEntry> prefill_entries_;   // the launched step's prefill chunks
  std::vector<PlanEntry> pending_prefills_;  // the pending step's
  std::vector<SeqId> ended_;
  std::string text_;
  std::uint64_t steps_ = 0, generated_ = 0, finished_requests_ = 0;
  std::uint64_t step_ns_ = 0, device_wait_ns_ = 0, overlapped_steps_ = 0;
  std::uint64_t images_encoded_ = 0;  // towers run

  // Shared with submitting threads.
  mutable std::mutex inbox_mutex_;
  std::condition_variable inbox_cv_;
  std::vector<std::shared_ptr<RequestState>> inbox_;
  std::vector<std::uint64_t> cancels_;
  std::atomic<std::uint64_t> next_request_{1};
  std::atomic<int> active_requests_{0};
  std::atomic<bool> broken_{false};          // the group failed (fatal_ says how)
  core::Status fatal_ = core::Status::ok();  // engine thread
  bool wake_flag_ = false;
  mutable std::mutex metrics_mutex_;
  EngineMetrics metrics_;
};

}  // namespace mlxs::engine
