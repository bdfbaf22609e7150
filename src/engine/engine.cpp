#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include <xxhash.h>

#include "core/log.h"
#include "model/step_followers.h"
#include "tensor/logits.h"

namespace mlxs::engine {

using core::ErrorCode;
using core::Result;
using core::Status;

struct Engine::RequestState {
  std::uint64_t id = 0;
  GenerateRequest params;
  std::vector<std::uint64_t> image_hashes;     // of each image's pixels
  std::vector<std::vector<float>> image_rows;  // the tower's output, per image
  std::shared_ptr<Stream> stream;
  std::vector<SeqId> seqs;
  int open = 0;
  Usage usage;
  StreamTimes times;
  bool failed = false;
};

struct Engine::SeqRuntime {
  std::shared_ptr<RequestState> request;
  int choice = 0;
  core::Xoshiro256 rng;
  std::unique_ptr<tokenizer::StreamDecoder> decoder;
  StopMatcher stops;
  std::unique_ptr<ConstraintState> constraint;  // structured output, if asked for
  FinishReason finish = FinishReason::kNone;
  int pending_row = -1;  // its pending token's logit row in the launched step
};

namespace {

// The scheduler computes an image's rows in one step where they attend to
// each other both ways.
SchedulerConfig scheduler_config(const SchedulerConfig& base, const model::Model& model) {
  SchedulerConfig c = base;
  c.whole_images = model.vision() != nullptr && model.vision()->bidirectional_image_attention;
  return c;
}

std::uint64_t fresh_seed() {
  static std::atomic<std::uint64_t> counter{0};
  const auto t = static_cast<std::uint64_t>(
      std::chrono::high_resolution_clock::now().time_since_epoch().count());
  std::uint64_t s = t ^ (counter.fetch_add(1) * 0x9e3779b97f4a7c15ull);
  return core::splitmix64(s);
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(model::Model& model,
                                               const tokenizer::Tokenizer* tokenizer,
                                               const EngineConfig& config, const core::Clock& clock,
                                               TensorParallelGroup* group) {
  const auto& opts = model.options();
  const auto& sc = config.scheduler;
  if (sc.max_batch_tokens > opts.max_batch_tokens || sc.max_seqs > opts.max_seqs ||
      sc.max_seqs > opts.max_logit_rows || sc.max_context > model.max_context()) {
    return Status(ErrorCode::kInvalidParams,
                  "engine limits exceed what the model was loaded for (batch tokens, sequences, "
                  "logit rows, context)");
  }
  if (config.block_size <= 0 || config.max_n < 1) {
    return Status(ErrorCode::kInvalidParams, "block size and max_n must be positive");
  }
  int blocks = config.kv_blocks;
  if (blocks <= 0) {
    const auto per_block = model.kv_shape(1, config.block_size).bytes();
    blocks = static_cast<int>(std::min<std::size_t>(config.kv_memory_bytes / per_block, 1u << 24));
  }
  const int per_seq = (sc.max_context + config.block_size - 1) / config.block_size;
  if (blocks < per_seq) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "KV cache of {} blocks cannot hold one sequence of the maximum context "
                            "({} blocks)",
                            blocks, per_seq);
  }
  MLXS_ASSIGN_OR_RETURN(
      auto kv, model.backend().create_kv_storage(model.kv_shape(blocks, config.block_size)));
  // Every rank's cache has the same blocks (of its own kv heads), so the
  // block tables rank 0 plans are valid on all of them.
  if (group != nullptr) MLXS_RETURN_IF_ERROR(group->create_kv(blocks, config.block_size));
  return std::unique_ptr<Engine>(
      new Engine(model, tokenizer, config, clock, std::move(kv), blocks, group));
}

Engine::Engine(model::Model& model, const tokenizer::Tokenizer* tokenizer,
               const EngineConfig& config, const core::Clock& clock,
               std::unique_ptr<tensor::KvStorage> kv, int kv_blocks, TensorParallelGroup* group)
    : model_(model),
      group_(group),
      tokenizer_(tokenizer),
      config_(config),
      clock_(clock),
      kv_(std::move(kv)),
      blocks_(kv_blocks, config.block_size, config.prefix_caching),
      scheduler_(scheduler_config(config.scheduler, model), blocks_, clock),
      sampler_(model.config().vocab),
      device_draws_(config.device_sampling && model.backend().samples_on_device()),
      overlap_((group == nullptr || model.backend().shares_sampled_ids()) &&
               model.backend().resolves_placeholder_tokens() &&
               (config.overlap == EngineConfig::Overlap::kOn ||
                (config.overlap == EngineConfig::Overlap::kAuto &&
                 model.backend().device() != tensor::Device::kCpu))) {
  const auto& gen = model.generation_config();
  for (auto id : (gen.eos_token_ids.empty() ? model.config().eos_token_ids : gen.eos_token_ids)) {
    eos_ids_.push_back(static_cast<std::int32_t>(id));
  }
  const auto T = static_cast<std::size_t>(config.scheduler.max_batch_tokens);
  batch_tokens_.reserve(T);
  batch_positions_.reserve(T);
  batch_logit_rows_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
  batch_slices_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
  batch_images_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
  outcomes_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
  prefill_entries_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
  pending_prefills_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
  pending_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
  resolving_.reserve(static_cast<std::size_t>(config.scheduler.max_seqs));
}

Engine::~Engine() {
  // Nobody will run the queued work: every open stream ends with an error.
  for (auto& [id, req] : requests_) {
    req->stream->fail(Status(ErrorCode::kCancelled, "the engine shut down"));
  }
  std::lock_guard lock(inbox_mutex_);
  for (auto& req : inbox_) req->stream->fail(Status(ErrorCode::kCancelled, "the engine shut down"));
}

Result<std::shared_ptr<Stream>> Engine::submit(GenerateRequest request) {
  if (broken_.load()) {
    return Status(ErrorCode::kWorkerCrashed,
                  "the tensor-parallel group of this model failed; the worker restarts");
  }
  const std::int64_t vocab = model_.config().vocab;
  if (request.prompt.empty()) return Status(ErrorCode::kInvalidParams, "prompt: must not be empty");
  for (auto id : request.prompt) {
    if (id < 0 || id >= vocab) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "prompt: token id {} is not in the vocabulary", id);
    }
  }
  MLXS_RETURN_IF_ERROR(validate_images(request));
  if (request.n < 1 || request.n > config_.max_n) {
    return core::make_error(ErrorCode::kInvalidParams, "n: must be in [1, {}]", config_.max_n);
  }
  if (request.timeout_ns < 0) return Status(ErrorCode::kInvalidParams, "timeout: must be positive");
  MLXS_RETURN_IF_ERROR(validate(request.sampling, vocab, config_.param_limits));
  MLXS_RETURN_IF_ERROR(validate(request.stop, vocab, config_.param_limits));
  if (!request.stop.stop.empty() && tokenizer_ == nullptr) {
    return Status(ErrorCode::kInvalidParams, "stop: stop strings need the model's tokenizer");
  }
  const int room = config_.scheduler.max_context - static_cast<int>(request.prompt.size());
  if (room <= 0) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "prompt: {} tokens leave no room in the context of {}",
                            request.prompt.size(), config_.scheduler.max_context);
  }
  request.stop.max_tokens = std::min(request.stop.max_tokens, room);
  auto state = std::make_shared<RequestState>();
  for (const auto& img : request.images) {
    state->image_hashes.push_back(
        XXH3_64bits(img.pixels.data(), img.pixels.size() * sizeof(float)));
  }
  state->id = next_request_.fetch_add(1);
  state->stream = std::make_shared<Stream>(state->id, request.n, config_.stream_limits);
  state->times.queued = clock_.now_ns();
  state->params = std::move(request);
  auto stream = state->stream;
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(state));
    wake_flag_ = true;
  }
  active_requests_.fetch_add(1);
  inbox_cv_.notify_one();
  return stream;
}

Status Engine::validate_images(const GenerateRequest& request) const {
  const model::VisionConfig* vision = model_.vision();
  const auto image_id = vision != nullptr ? static_cast<std::int32_t>(vision->image_token_id) : -1;
  const auto placeholders = std::count(request.prompt.begin(), request.prompt.end(), image_id);
  if (request.images.empty()) {
    if (vision == nullptr || placeholders == 0) return Status::ok();
    return core::make_error(ErrorCode::kInvalidParams,
                            "prompt: {} image placeholder tokens but no image", placeholders);
  }
  if (vision == nullptr) return Status(ErrorCode::kInvalidParams, "images: this model takes none");
  std::int64_t filled = 0;
  std::int64_t after = 0;
  for (std::size_t i = 0; i < request.images.size(); ++i) {
    const RequestImage& img = request.images[i];
    const model::ImageInput input{img.pixels, img.grid_t, img.grid_h, img.grid_w};
    auto rows = model_.image_tokens(input);
    if (!rows) {
      return core::make_error(ErrorCode::kInvalidParams, "images[{}]: {}", i,
                              rows.status().message());
    }
    const std::int64_t end = static_cast<std::int64_t>(img.begin) + *rows;
    if (img.begin < after || end > static_cast<std::int64_t>(request.prompt.size())) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "images[{}]: its {} tokens do not fit the prompt after the image "
                              "before",
                              i, *rows);
    }
    for (std::int64_t t = img.begin; t < end; ++t) {
      if (request.prompt[static_cast<std::size_t>(t)] != image_id) {
        return core::make_error(ErrorCode::kInvalidParams,
                                "images[{}]: prompt token {} is not the image placeholder {}", i, t,
                                image_id);
      }
    }
    filled += *rows;
    after = end;
  }
  if (filled != placeholders) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "prompt: {} image placeholder tokens, but the images fill {}",
                            placeholders, filled);
  }
  return Status::ok();
}

Result<std::vector<model::PlacedImage>> Engine::place_images(RequestState& request) {
  std::vector<model::PlacedImage> placed;
  const auto& images = request.params.images;
  const std::int64_t hidden = model_.config().hidden;
  const std::int64_t merge = images.empty() ? 1 : model_.vision()->merge;
  request.image_rows.reserve(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    const RequestImage& img = images[i];
    const model::ImageInput input{img.pixels, img.grid_t, img.grid_h, img.grid_w};
    MLXS_ASSIGN_OR_RETURN(const std::int64_t rows, model_.image_tokens(input));
    request.image_rows.emplace_back(static_cast<std::size_t>(rows * hidden));
    model::PlacedImage p;
    p.begin = img.begin;
    p.rows = static_cast<std::int32_t>(rows);
    if (model_.multi_axis_rope()) {
      p.grid_h = static_cast<std::int32_t>(img.grid_h / merge);
      p.grid_w = static_cast<std::int32_t>(img.grid_w / merge);
    }
    p.features = request.image_rows.back().data();
    p.hash = request.image_hashes[i];
    placed.push_back(p);
  }
  return placed;
}

Status Engine::encode_images(RequestState& request, std::span<const model::PlacedImage> placed,
                             int lo, int hi) {
  auto& images = request.params.images;
  for (std::size_t i = 0; i < images.size() && i < placed.size(); ++i) {
    RequestImage& img = images[i];
    const model::PlacedImage& p = placed[i];
    if (img.pixels.empty() || p.begin + p.rows <= lo || p.begin >= hi) continue;
    const model::ImageInput input{img.pixels, img.grid_t, img.grid_h, img.grid_w};
    MLXS_RETURN_IF_ERROR(model_.encode_image(input, request.image_rows[i]));
    ++images_encoded_;
    // The pixels are no longer needed once encoded.
    img.pixels.clear();
    img.pixels.shrink_to_fit();
  }
  return Status::ok();
}

void Engine::cancel(std::uint64_t request_id) {
  {
    std::lock_guard lock(inbox_mutex_);
    cancels_.push_back(request_id);
    wake_flag_ = true;
  }
  inbox_cv_.notify_one();
}

void Engine::wake() {
  {
    std::lock_guard lock(inbox_mutex_);
    wake_flag_ = true;
  }
  inbox_cv_.notify_one();
}

void Engine::take_inbox() {
  std::vector<std::shared_ptr<RequestState>> fresh;
  std::vector<std::uint64_t> cancels;
  {
    std::lock_guard lock(inbox_mutex_);
    fresh.swap(inbox_);
    cancels.swap(cancels_);
    wake_flag_ = false;
  }
  const core::Nanos now = clock_.now_ns();
  for (auto& req : fresh) {
    const auto& p = req->params;
    auto placed = place_images(*req);
    Status added = placed.is_ok() ? Status::ok() : placed.status();
    for (int c = 0; c < p.n && added.is_ok(); ++c) {
      const SeqId id = next_seq_++;
      SeqSpec spec;
      spec.id = id;
      spec.group = req->id;
      spec.group_leader = c == 0;
      spec.priority = p.priority;
      spec.prompt = p.prompt;
      spec.images = *placed;
      spec.max_new_tokens = p.stop.max_tokens;
      spec.deadline = p.timeout_ns > 0 ? now + p.timeout_ns : 0;
      added = scheduler_.add(std::move(spec));
      if (!added.is_ok()) break;
      auto rt = std::make_unique<SeqRuntime>();
      rt->request = req;
      rt->choice = c;
      rt->rng.reseed(p.sampling.seed
                         ? *p.sampling.seed + static_cast<std::uint64_t>(c) * 0x9e3779b97f4a7c15ull
                         : fresh_seed());
      if (tokenizer_ != nullptr) {
        rt->decoder =
            std::make_unique<tokenizer::StreamDecoder>(*tokenizer_, p.skip_special_tokens);
      }
      rt->stops = StopMatcher(p.stop.stop);
      if (p.constraint) {
        std::vector<std::int32_t> stop_ids = p.stop.stop_token_ids;
        if (!p.stop.ignore_eos) stop_ids.insert(stop_ids.end(), eos_ids_.begin(), eos_ids_.end());
        rt->constraint = p.constraint->start(std::move(stop_ids));
      }
      req->seqs.push_back(id);
      seqs_.emplace(id, std::move(rt));
    }
    if (!added.is_ok()) {
      // All or nothing: withdraw the choices already queued.
      for (SeqId id : req->seqs) {
        scheduler_.cancel(id);
      }
      req->failed = true;
      req->stream->fail(added);
    }
    req->open = static_cast<int>(req->seqs.size());
    req->usage.prompt_tokens = static_cast<int>(p.prompt.size());
    requests_.emplace(req->id, req);
    if (req->seqs.empty()) {
      requests_.erase(req->id);
      active_requests_.fetch_sub(1);
    }
  }
  for (std::uint64_t id : cancels) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    for (SeqId s : it->second->seqs) scheduler_.cancel(s, FinishReason::kCancelled);
  }
  // A consumer that went away cancels its work at the next step.
  for (auto& [id, req] : requests_) {
    if (req->stream->abandoned()) {
      for (SeqId s : req->seqs) scheduler_.cancel(s, FinishReason::kCancelled);
    }
  }
}

void Engine::end_sequence(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  SeqRuntime& rt = *it->second;
  auto req = rt.request;
  const Sequence* s = scheduler_.find(id);
  const FinishReason reason = s != nullptr ? s->finish : FinishReason::kError;
  if (s != nullptr) {
    // A token still pending when the sequence ended was never produced.
    req->usage.completion_tokens += std::max(0, s->generated() - (s->pending ? 1 : 0));
    if (rt.choice == 0) {
      req->usage.cached_prompt_tokens = s->num_cached_prompt;
      req->times.first_scheduled = s->times.first_scheduled;
      req->times.preemptions = s->preemptions;
    }
    if (s->times.first_token != 0 &&
        (req->times.first_token == 0 || s->times.first_token < req->times.first_token)) {
      req->times.first_token = s->times.first_token;
    }
  }
  const bool was_failed = req->failed;
  if (!req->failed) {
    if (reason == FinishReason::kBackpressure) {
      req->failed = true;
      req->stream->fail(Status(ErrorCode::kBackpressureExceeded,
                               "the client read the stream too slowly; the request was cancelled"));
    } else if (reason == FinishReason::kTimeout) {
      req->failed = true;
      req->stream->fail(Status(ErrorCode::kTimeout, "the request passed its deadline"));
    } else if (reason == FinishReason::kError) {
      req->failed = true;
      req->stream->fail(fatal_.is_ok() ? Status(ErrorCode::kGenerationError, "generation failed")
                                       : fatal_);
    } else {
      req->stream->finish_choice(rt.choice, reason);
    }
  }
  if (req->failed && !was_failed) {
    // The request as a whole has ended: its other choices stop too.
    for (SeqId other : req->seqs) {
      if (other != id) scheduler_.cancel(other, FinishReason::kCancelled);
    }
  }
  scheduler_.release(id);
  seqs_.erase(it);
  if (--req->open == 0) {
    req->times.finished = clock_.now_ns();
    req->stream->set_usage(req->usage);
    req->stream->set_times(req->times);
    requests_.erase(req->id);
    active_requests_.fetch_sub(1);
    ++finished_requests_;
  }
}

void Engine::prepare_sampling(const StepPlan& plan) {
  const auto vocab = static_cast<std::size_t>(model_.config().vocab);
  const std::size_t words = (vocab + 31) / 32;
  full_rows_.clear();
  masked_rows_.clear();
  draws_.clear();
  std::size_t row = 0;
  for (const PlanEntry& e : plan.entries) {
    if (!e.wants_logits) continue;
    const std::size_t this_row = row++;
    const Sequence& s = *scheduler_.find(e.id);
    if (s.state == SeqState::kFinished) {
      // Ended by its previous token while this step was launched: the row
      // is computed and thrown away.
      full_rows_.push_back(0);
      continue;
    }
    SeqRuntime& rt = *seqs_.at(e.id);
    const GenerateRequest& p = rt.request->params;
    const SamplingParams& sp = p.sampling;
    const bool may_not_stop = s.generated() < p.stop.min_tokens;
    if (rt.constraint) {
      // Only what the constraint allows (and, before min_tokens, no stop).
      const std::size_t slot = masked_rows_.size();
      if (masks_.size() < (slot + 1) * words) masks_.resize((slot + 1) * words);
      const std::span<std::uint32_t> mask(masks_.data() + slot * words, words);
      rt.constraint->fill_mask(mask);
      auto set_bit = [&](std::int32_t id, bool on) {
        const auto t = static_cast<std::size_t>(id);
        if (t >= vocab) return;
        if (on) {
          mask[t >> 5] |= 1u << (t & 31);
        } else {
          mask[t >> 5] &= ~(1u << (t & 31));
        }
      };
      if (may_not_stop) {
        for (auto id : eos_ids_) set_bit(id, false);
        for (auto id : p.stop.stop_token_ids) set_bit(id, false);
      }
      // A grammar never leaves a state with no way on; if one did,
      // end-of-sequence is the way out.
      if (tensor::count_allowed(mask, vocab) == 0) {
        for (auto id : eos_ids_) set_bit(id, true);
      }
      masked_rows_.push_back(static_cast<std::int32_t>(this_row));
    }
    // Greedy rows, and on a device that samples also temperature rows, need
    // only their token back, unless the host must read the row (bias,
    // penalties, logprobs, or stop tokens to hide without a mask).
    const bool plain = sp.logit_bias.empty() && !sp.uses_penalties() && !sp.logprobs &&
                       sp.top_logprobs == 0 && (!may_not_stop || rt.constraint);
    const bool on_device = plain && (sp.greedy() || device_draws_);
    if (on_device && !sp.greedy()) {
      // The sequence's generator gives the draw its number, as on the host.
      draws_.push_back({static_cast<std::int32_t>(this_row), sp.temperature, sp.top_k, sp.top_p,
                        sp.min_p, rt.rng.uniform_double()});
    }
    full_rows_.push_back(on_device ? 0 : 1);
  }
}

Result<tensor::Tensor> Engine::launch_forward(const StepPlan& plan) {
  batch_tokens_.clear();
  batch_positions_.clear();
  batch_logit_rows_.clear();
  batch_slices_.clear();
  batch_images_.clear();
  prefill_entries_.clear();
  for (const PlanEntry& e : plan.entries) {
    const Sequence& s = *scheduler_.find(e.id);
    if (s.state == SeqState::kPrefilling) {
      prefill_entries_.push_back(e);
      // An image is encoded in the first step that computes its rows.
      if (!s.images.empty()) {
        MLXS_RETURN_IF_ERROR(
            encode_images(*seqs_.at(e.id)->request, s.images, e.begin, e.begin + e.count));
      }
    }
    const auto begin = static_cast<std::int32_t>(batch_tokens_.size());
    for (int i = 0; i < e.count; ++i) {
      const auto at = static_cast<std::size_t>(e.begin) + static_cast<std::size_t>(i);
      std::int32_t token = s.tokens[at];
      if (s.pending && at + 1 == s.tokens.size()) {
        // Still on the device: the backend reads it where step n put it.
        token = -1 - seqs_.at(e.id)->pending_row;
      }
      batch_tokens_.push_back(token);
      batch_positions_.push_back(e.begin + i);
    }
    if (e.wants_logits) batch_logit_rows_.push_back(begin + e.count - 1);
    batch_slices_.push_back(tensor::SeqSlice{begin, e.count, e.begin + e.count, s.blocks.data(),
                                             static_cast<std::int32_t>(s.blocks.size())});
    batch_images_.emplace_back(s.images);
  }
  const model::VisionConfig* vision = model_.vision();
  model::fill_step_images(batch_slices_, batch_images_, batch_positions_, model_.config().hidden,
                          model_.multi_axis_rope(),
                          vision != nullptr && vision->bidirectional_image_attention, step_images_);
  tensor::StepBatch batch{batch_tokens_, batch_positions_, batch_slices_, batch_logit_rows_};
  batch.rope_positions = step_images_.rope_positions;
  batch.attend_until = step_images_.attend_until;
  batch.embeds = step_images_.embeds;
  // Under tensor parallelism the followers run the same batch on their
  // shards; it stays untouched until every one of them is done with it.
  return model::forward_all_ranks(model_, group_, batch, *kv_);
}

Status Engine::launch_sampling(const StepPlan& plan, const tensor::Tensor& logits,
                               core::Nanos began) {
  // A device is computing the step now; the host meanwhile prepares what
  // sampling needs (the structured-output masks above all).
  prepare_sampling(plan);
  if (!batch_logit_rows_.empty()) {
    const std::size_t words = (static_cast<std::size_t>(model_.config().vocab) + 31) / 32;
    tensor::Backend::LogitsRequest request;
    request.masked_rows = masked_rows_;
    request.masks = std::span<const std::uint32_t>(masks_).first(masked_rows_.size() * words);
    request.mask_words = words;
    request.full_rows = full_rows_;
    request.draws = draws_;
    const Status launched = model_.backend().launch_logits(logits, request);
    if (!launched.is_ok()) {
      abort_group_on_device_error(launched);
      return launched;
    }
  }
  pending_.clear();
  bool host_rows = false;
  std::size_t row = 0;
  for (const PlanEntry& e : plan.entries) {
    if (!e.wants_logits) continue;
    const bool host = full_rows_[row] != 0;
    host_rows = host_rows || host;
    pending_.push_back({e.id, host});
    auto it = seqs_.find(e.id);
    if (it != seqs_.end()) it->second->pending_row = static_cast<int>(row);
    ++row;
  }
  scheduler_.commit();
  // Rows the host samples have no token on the device to stand in for.
  pending_overlaps_ = overlap_ && !host_rows;
  pending_began_ = began;
  pending_prefills_.assign(prefill_entries_.begin(), prefill_entries_.end());
  if (pending_.empty()) record_prefill_chunks(pending_prefills_, began, clock_.now_ns());
  return Status::ok();
}

Status Engine::resolve_pending() {
  resolving_.swap(pending_);
  pending_.clear();
  const core::Nanos waited = clock_.now_ns();
  auto collected = model_.backend().collect_logits();
  const core::Nanos done = clock_.now_ns();
  device_wait_ns_ += static_cast<std::uint64_t>(done - waited);
  if (!collected.is_ok()) {
    abort_group_on_device_error(collected.status());
    return collected.status();
  }
  // A rank that failed after its part was queued (on a device) aborted the
  // group: these logits are not to be trusted.
  if (group_ != nullptr) MLXS_RETURN_IF_ERROR(group_->wait());
  const tensor::Backend::HostLogits host = *collected;
  record_prefill_chunks(pending_prefills_, pending_began_, done);
  const auto vocab = static_cast<std::size_t>(model_.config().vocab);
  outcomes_.clear();
  for (std::size_t this_row = 0; this_row < resolving_.size(); ++this_row) {
    const PendingRow& r = resolving_[this_row];
    const Sequence* found = scheduler_.find(r.id);
    auto it = seqs_.find(r.id);
    // Ended while the step ran (cancelled, timed out, its request failed).
    if (found == nullptr || it == seqs_.end() || found->state == SeqState::kFinished ||
        !found->pending) {
      continue;
    }
    const Sequence& s = *found;
    SeqRuntime& rt = *it->second;
    const GenerateRequest& p = rt.request->params;
    const int generated = s.generated() - 1;  // before this token
    SampleOutput out;
    if (!r.host_sampled) {
      // Greedy, or drawn on the device: nothing else was asked of the row.
      out.token = host.tokens[this_row];
    } else {
      // Sampled in place: the host logits are ours until the next step.
      const std::span<float> logit_row(host.rows + this_row * vocab, vocab);
      if (generated < p.stop.min_tokens && !rt.constraint) {
        // Not allowed to stop yet: end-of-sequence and stop tokens are
        // masked (a constrained row has them cleared in its mask).
        for (auto id : eos_ids_)
          logit_row[static_cast<std::size_t>(id)] = -std::numeric_limits<float>::infinity();
        for (auto id : p.stop.stop_token_ids)
          logit_row[static_cast<std::size_t>(id)] = -std::numeric_limits<float>::infinity();
      }
      const auto prompt =
          std::span<const std::int32_t>(s.tokens).first(static_cast<std::size_t>(s.prompt_len));
      const auto output = std::span<const std::int32_t>(s.tokens).subspan(
          static_cast<std::size_t>(s.prompt_len), static_cast<std::size_t>(generated));
      out = sampler_.sample(logit_row, p.sampling, prompt, output, rt.rng);
    }
    ++generated_;

    FinishReason finish = FinishReason::kNone;
    bool constraint_failed = false;
    if (rt.constraint && !rt.constraint->advance(out.token).is_ok()) constraint_failed = true;
    const bool is_eos = !p.stop.ignore_eos &&
                        std::find(eos_ids_.begin(), eos_ids_.end(), out.token) != eos_ids_.end();
    const bool is_stop_token = std::find(p.stop.stop_token_ids.begin(), p.stop.stop_token_ids.end(),
                                         out.token) != p.stop.stop_token_ids.end();
    text_.clear();
    bool stopped_by_string = false;
    if (!is_eos && !is_stop_token && rt.decoder) {
      std::string piece;
      MLXS_RETURN_IF_ERROR(rt.decoder->push(out.token, piece));
      text_ = rt.stops.feed(piece, &stopped_by_string);
    }
    if (is_eos || is_stop_token || stopped_by_string) {
      finish = FinishReason::kStop;
    } else if (generated + 1 >= s.max_new_tokens ||
               static_cast<int>(s.tokens.size()) >= config_.scheduler.max_context) {
      finish = FinishReason::kLength;
    }
    if (finish != FinishReason::kNone && !stopped_by_string && rt.decoder) {
      std::string tail;
      MLXS_RETURN_IF_ERROR(rt.decoder->finish(tail));
      bool late_stop = false;
      text_ += rt.stops.feed(tail, &late_stop);
      if (late_stop) {
        finish = FinishReason::kStop;
      } else {
        text_ += rt.stops.flush();
      }
    }
    if (constraint_failed) finish = FinishReason::kError;  // the mask makes this unreachable
    const bool emit_token = !is_eos && !is_stop_token;
    TokenLogprobs lp;
    const TokenLogprobs* lp_ptr = nullptr;
    if (p.sampling.logprobs || p.sampling.top_logprobs > 0) {
      lp.token = out.token;
      lp.logprob = out.logprob;
      lp.top.assign(out.top.begin(), out.top.begin() + out.top_count);
      lp_ptr = &lp;
    }
    if (emit_token || !text_.empty()) {
      const auto tokens = emit_token ? std::span<const std::int32_t>(&out.token, 1)
                                     : std::span<const std::int32_t>();
      if (!rt.request->stream->push(rt.choice, tokens, text_, emit_token ? lp_ptr : nullptr)) {
        finish = rt.request->stream->abandoned() ? FinishReason::kCancelled
                                                 : FinishReason::kBackpressure;
      }
    }
    outcomes_.push_back({r.id, out.token, finish});
  }
  MLXS_RETURN_IF_ERROR(scheduler_.resolve(outcomes_));
  // The sequences their tokens ended: step() ends them.
  for (const StepOutcome& o : outcomes_) {
    const Sequence* s = scheduler_.find(o.id);
    if (s != nullptr && s->state == SeqState::kFinished) ended_.push_back(o.id);
  }
  resolving_.clear();
  return Status::ok();
}

void Engine::fail_step(const StepPlan& plan, const Status& error) {
  // The step failed as a whole: its sequences end with an error, the
  // engine lives on.
  core::log_error("engine_step_failed", {{"error", error.to_string()}});
  for (const PlanEntry& e : plan.entries) scheduler_.cancel(e.id, FinishReason::kError);
  for (const PendingRow& r : resolving_) scheduler_.cancel(r.id, FinishReason::kError);
  for (const PendingRow& r : pending_) scheduler_.cancel(r.id, FinishReason::kError);
  resolving_.clear();
  pending_.clear();
  const StepPlan& cleanup = scheduler_.schedule();
  ended_.insert(ended_.end(), cleanup.finished.begin(), cleanup.finished.end());
}

void Engine::abort_group_on_device_error(const Status& error) {
  // Rank 0's device failed: the other ranks may wait for its part of a
  // collective that will never come, so the group ends (step() then fails
  // every stream with WorkerCrashed). Host-side errors leave it alone.
  if (group_ != nullptr) group_->abort(Status(error.code(), "rank 0: " + error.message()));
}

void Engine::fail_all() {
  // Requests that were queued before the failure end too (submit refuses
  // later ones).
  take_inbox();
  for (const auto& [id, rt] : seqs_) scheduler_.cancel(id, FinishReason::kError);
  resolving_.clear();
  pending_.clear();
  const StepPlan& cleanup = scheduler_.schedule();
  ended_.insert(ended_.end(), cleanup.finished.begin(), cleanup.finished.end());
}

Result<bool> Engine::step() {
  const core::Nanos step_began = clock_.now_ns();
  take_inbox();
  if (!fatal_.is_ok()) {
    // The group is gone: nothing runs again, whatever is left ends.
    ended_.clear();
    fail_all();
    std::sort(ended_.begin(), ended_.end());
    ended_.erase(std::unique(ended_.begin(), ended_.end()), ended_.end());
    const bool any = !ended_.empty();
    for (SeqId id : ended_) end_sequence(id);
    publish_metrics();
    return any;
  }
  // A pending step that may overlap the next one stays pending while the
  // next is scheduled and launched; any other was read when it was launched.
  const StepPlan& plan = scheduler_.schedule();
  ended_.assign(plan.finished.begin(), plan.finished.end());
  bool worked = !ended_.empty() || !pending_.empty();
  Status ran = Status::ok();
  std::optional<tensor::Tensor> logits;
  const core::Nanos launched_at = clock_.now_ns();
  if (!plan.empty()) {
    worked = true;
    auto launched = launch_forward(plan);
    if (launched.is_ok()) {
      logits = *launched;
    } else {
      ran = launched.status();
    }
  }
  // The previous step's tokens, read while this one computes.
  if (ran.is_ok() && !pending_.empty()) {
    if (logits) ++overlapped_steps_;
    ran = resolve_pending();
  }
  if (ran.is_ok() && logits) {
    ran = launch_sampling(plan, *logits, launched_at);
    if (ran.is_ok() && !pending_.empty() && !pending_overlaps_) ran = resolve_pending();
  }
  if (group_ != nullptr && fatal_.is_ok() &&
      (group_->broken() || ran.code() == ErrorCode::kWorkerCrashed)) {
    // A rank failed: the group is gone for every stream (it fails as one).
    group_->abort(ran.is_ok() ? Status(ErrorCode::kWorkerCrashed, "a rank failed") : ran);
    fatal_ =
        Status(ErrorCode::kWorkerCrashed, "the tensor-parallel group failed: " + group_->failure());
    broken_.store(true);
  }
  if (!ran.is_ok()) fail_step(plan, ran);
  if (!fatal_.is_ok()) fail_all();
  // What ended: cancelled or timed out (plan.finished, and the cleanup's
  // after a failure) and what resolved tokens ended (resolve_pending).
  std::sort(ended_.begin(), ended_.end());
  ended_.erase(std::unique(ended_.begin(), ended_.end()), ended_.end());
  for (SeqId id : ended_) end_sequence(id);
  ++steps_;
  if (worked) step_ns_ += static_cast<std::uint64_t>(clock_.now_ns() - step_began);
  publish_metrics();
  return worked;
}

void Engine::record_prefill_chunks(std::span<const PlanEntry> chunks, core::Nanos begin,
                                   core::Nanos end) {
  for (const PlanEntry& e : chunks) {
    auto it = seqs_.find(e.id);
    if (it == seqs_.end() || it->second->choice != 0) continue;
    StreamTimes& t = it->second->request->times;
    ++t.prefill_chunk_count;
    if (t.prefill_chunks.size() < StreamTimes::kMaxTracedChunks) {
      t.prefill_chunks.push_back({begin, end, e.count});
    }
  }
}

void Engine::publish_metrics() {
  EngineMetrics m;
  const auto s = scheduler_.stats();
  const auto b = blocks_.stats();
  for (int c = 0; c < kPriorityClasses; ++c) m.waiting[c] = s.waiting[c];
  m.running = s.running;
  m.preemptions = s.preemptions;
  m.kv_blocks_total = b.total;
  m.kv_blocks_used = b.used;
  m.kv_blocks_cached_free = b.cached_free;
  m.prefix_queries = b.prefix_queries;
  m.prefix_hits = b.prefix_hits;
  m.prompt_tokens = s.prompt_tokens;
  m.cached_prompt_tokens = s.cached_prompt_tokens;
  m.generated_tokens = generated_;
  m.steps = steps_;
  m.step_ns = step_ns_;
  m.device_wait_ns = device_wait_ns_;
  m.overlapped_steps = overlapped_steps_;
  const tensor::Backend::DeviceTimeline timeline = model_.backend().device_timeline();
  m.device_busy_us = static_cast<std::uint64_t>(timeline.busy_ms * 1e3);
  m.device_idle_us = static_cast<std::uint64_t>(timeline.idle_ms * 1e3);
  m.images_encoded = images_encoded_;
  m.requests_finished = finished_requests_;
  std::lock_guard lock(metrics_mutex_);
  metrics_ = m;
}

void Engine::run(std::stop_token stop, DeviceArbiter* arbiter, int engine_index) {
  std::stop_callback wake_on_stop(stop, [this] { wake(); });
  while (!stop.stop_requested()) {
    if (arbiter != nullptr) {
      take_inbox();
      Urgency urgency;
      if (!scheduler_.has_work(&urgency.top, &urgency.oldest_wait)) {
        std::unique_lock lock(inbox_mutex_);
        inbox_cv_.wait_for(lock, std::chrono::milliseconds(100),
                           [&] { return wake_flag_ || stop.stop_requested(); });
        continue;
      }
      arbiter->acquire(engine_index, urgency);
    }
    auto worked = step();
    if (arbiter != nullptr) arbiter->release(engine_index);
    if (!worked.is_ok()) {
      core::log_error("engine_step_error", {{"error", worked.status().to_string()}});
    }
    if (worked.is_ok() && *worked) continue;
    if (has_work()) continue;
    std::unique_lock lock(inbox_mutex_);
    inbox_cv_.wait_for(lock, std::chrono::milliseconds(100),
                       [&] { return wake_flag_ || stop.stop_requested(); });
  }
}

bool Engine::has_work() const {
  return !scheduler_.idle() || active_requests_.load() > 0;
}

bool Engine::has_work(Priority* top, core::Nanos* oldest_wait) const {
  return scheduler_.has_work(top, oldest_wait);
}

EngineMetrics Engine::metrics() const {
  EngineMetrics m;
  {
    std::lock_guard lock(metrics_mutex_);
    m = metrics_;
  }
  m.active_requests = active_requests_.load();
  return m;
}

}  // namespace mlxs::engine
