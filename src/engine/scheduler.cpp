#include "engine/scheduler.h"

#include <algorithm>
#include <cassert>

namespace mlxs::engine {

using core::ErrorCode;
using core::Status;

Scheduler::Scheduler(const SchedulerConfig& config, BlockPool& blocks, const core::Clock& clock)
    : config_(config), blocks_(blocks), clock_(clock) {
  plan_.entries.reserve(static_cast<std::size_t>(config.max_seqs));
  running_.reserve(static_cast<std::size_t>(config.max_seqs) * 2);
}

int Scheduler::waiting_count() const {
  int n = 0;
  for (const auto& q : waiting_) n += static_cast<int>(q.size());
  return n;
}

Status Scheduler::add(SeqSpec spec) {
  if (spec.prompt.empty()) return Status(ErrorCode::kInvalidParams, "prompt is empty");
  if (static_cast<int>(spec.prompt.size()) >= config_.max_context) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "prompt of {} tokens leaves no room in the context of {}",
                            spec.prompt.size(), config_.max_context);
  }
  if (spec.max_new_tokens < 1)
    return Status(ErrorCode::kInvalidParams, "max_new_tokens must be >= 1");
  if (seqs_.count(spec.id) != 0) return Status(ErrorCode::kInvalidParams, "duplicate sequence id");
  const auto cls = static_cast<std::size_t>(spec.priority);
  if (static_cast<int>(waiting_[cls].size()) >= config_.max_waiting[cls]) {
    return core::make_error(ErrorCode::kQueueFull, "the {} queue is full ({} waiting)",
                            priority_name(spec.priority), waiting_[cls].size());
  }
  auto s = std::make_unique<Sequence>();
  s->id = spec.id;
  s->group = spec.group != 0 ? spec.group : spec.id;
  s->group_leader = spec.group_leader;
  s->priority = spec.priority;
  s->deadline = spec.deadline;
  s->times.queued = clock_.now_ns();
  s->prompt_len = static_cast<int>(spec.prompt.size());
  s->max_new_tokens = spec.max_new_tokens;
  for (std::size_t i = 0; i < spec.images.size(); ++i) {
    const auto& img = spec.images[i];
    const std::int32_t after = i == 0 ? 0 : spec.images[i - 1].begin + spec.images[i - 1].rows;
    if (img.rows <= 0 || img.begin < after ||
        static_cast<std::size_t>(img.begin) + static_cast<std::size_t>(img.rows) >
            spec.prompt.size()) {
      return Status(ErrorCode::kInvalidParams, "images must lie in order within the prompt");
    }
    if (config_.whole_images &&
        img.rows > std::min(config_.prefill_chunk, config_.max_batch_tokens)) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "an image of {} tokens does not fit one step of {}", img.rows,
                              std::min(config_.prefill_chunk, config_.max_batch_tokens));
    }
  }
  s->images = std::move(spec.images);
  // A follower's request is encoded with its leader.
  s->images_unencoded = s->group_leader && !s->images.empty();
  s->tokens = std::move(spec.prompt);
  s->tokens.reserve(
      std::min<std::size_t>(static_cast<std::size_t>(config_.max_context),
                            s->tokens.size() + static_cast<std::size_t>(spec.max_new_tokens) + 1));
  if (s->group_leader) group_prompt_done_[s->group] = false;
  waiting_[cls].push_back(s->id);
  seqs_.emplace(s->id, std::move(s));
  return Status::ok();
}

void Scheduler::cancel(SeqId id, FinishReason reason) {
  auto it = seqs_.find(id);
  if (it == seqs_.end() || it->second->state == SeqState::kFinished) return;
  it->second->cancel_requested = true;
  it->second->cancel_reason = reason;
}

const Sequence* Scheduler::find(SeqId id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

void Scheduler::release(SeqId id) {
  auto it = seqs_.find(id);
  if (it != seqs_.end() && it->second->state == SeqState::kFinished) seqs_.erase(it);
}

void Scheduler::move_state(Sequence& s, SeqEvent event) {
  auto next = transition(s.state, event);
  assert(next.is_ok() && "illegal sequence transition");
  if (next.is_ok()) s.state = *next;
}

void Scheduler::free_blocks(Sequence& s) {
  for (auto b : s.blocks) blocks_.release(b);
  s.blocks.clear();
  s.block_hashes.clear();
  s.num_computed = 0;
}

void Scheduler::finish(Sequence& s, SeqEvent event, FinishReason reason) {
  const bool was_running = s.state == SeqState::kPrefilling || s.state == SeqState::kDecoding;
  move_state(s, event);
  s.finish = reason;
  s.times.finished = clock_.now_ns();
  free_blocks(s);
  if (was_running) {
    running_.erase(std::find(running_.begin(), running_.end(), s.id));
  } else {
    for (auto& q : waiting_) {
      auto it = std::find(q.begin(), q.end(), s.id);
      if (it != q.end()) q.erase(it);
    }
  }
  // Followers of a leader that ends before its prompt is done proceed alone.
  if (s.group_leader) group_prompt_done_[s.group] = true;
  ++stats_.finished;
}

void Scheduler::preempt(Sequence& s) {
  move_state(s, SeqEvent::kPreempt);
  free_blocks(s);
  ++s.preemptions;
  ++stats_.preemptions;
  running_.erase(std::find(running_.begin(), running_.end(), s.id));
  // Resumed before new work of its class.
  waiting_[static_cast<std::size_t>(s.priority)].push_front(s.id);
  plan_.preempted.push_back(s.id);
}

bool Scheduler::group_ready(const Sequence& s) const {
  if (s.group_leader) return true;
  auto it = group_prompt_done_.find(s.group);
  return it == group_prompt_done_.end() || it->second;
}

Priority Scheduler::effective_class(const Sequence& s, core::Nanos now) const {
  if (s.priority == Priority::kBatch && now - s.times.queued >= config_.aging_ns) {
    return Priority::kInteractive;  // aged: never starved
  }
  return s.priority;
}

Sequence* Scheduler::pick_victim(const Sequence& requester, bool strictly_lower_class) {
  Sequence* victim = nullptr;
  for (SeqId id : running_) {
    Sequence& c = seq(id);
    if (&c == &requester || c.preemptions >= config_.max_preemptions) continue;
    const bool planned = std::any_of(plan_.entries.begin(), plan_.entries.end(),
                                     [&](const PlanEntry& e) { return e.id == id; });
    if (planned) continue;
    if (strictly_lower_class && c.priority <= requester.priority) continue;
    // Lowest class first, then the youngest.
    if (victim == nullptr || c.priority > victim->priority ||
        (c.priority == victim->priority && c.times.queued > victim->times.queued)) {
      victim = &c;
    }
  }
  return victim;
}

bool Scheduler::ensure_blocks(Sequence& s, int tokens_needed) {
  const int bs = blocks_.block_size();
  const auto need = static_cast<std::size_t>((tokens_needed + bs - 1) / bs);
  while (s.blocks.size() < need) {
    if (auto b = blocks_.allocate()) {
      s.blocks.push_back(*b);
      continue;
    }
    return false;
  }
  return true;
}

void Scheduler::match_prefix(Sequence& s) {
  if (!blocks_.prefix_caching() || s.num_computed != 0) return;
  const int bs = blocks_.block_size();
  const int full = static_cast<int>(s.tokens.size()) / bs;
  BlockHash parent = 0;
  for (int i = 0; i < full; ++i) {
    const BlockHash h = block_hash(s, static_cast<std::size_t>(i), parent);
    auto b = blocks_.lookup(h);
    if (!b) break;
    s.blocks.push_back(*b);
    s.block_hashes.push_back(h);
    s.num_computed += bs;
    parent = h;
  }
  // At least the newest token must be computed to get its logits.
  if (s.num_computed >= static_cast<int>(s.tokens.size())) {
    blocks_.release(s.blocks.back());
    s.blocks.pop_back();
    s.block_hashes.pop_back();
    s.num_computed -= bs;
  }
  if (s.state == SeqState::kWaiting) {
    s.num_cached_prompt = std::min(s.num_computed, s.prompt_len);
  }
}

BlockHash Scheduler::block_hash(const Sequence& s, std::size_t i, BlockHash parent) const {
  const auto bs = static_cast<std::size_t>(blocks_.block_size());
  BlockHash h = hash_block(parent, std::span<const std::int32_t>(s.tokens).subspan(i * bs, bs));
  const auto lo = static_cast<std::int64_t>(i * bs);
  const auto hi = lo + static_cast<std::int64_t>(bs);
  for (const auto& img : s.images) {
    if (img.begin >= hi || img.begin + img.rows <= lo) continue;
    // The same placeholder ids stand for every image: the content decides.
    const std::int32_t words[3] = {static_cast<std::int32_t>(img.hash),
                                   static_cast<std::int32_t>(img.hash >> 32),
                                   img.begin - static_cast<std::int32_t>(lo)};
    h = hash_block(h, words);
  }
  return h;
}

int Scheduler::image_chunk(const Sequence& s, int want) const {
  if (!config_.whole_images || s.images.empty()) return want;
  return model::take_whole_images(s.images, s.num_computed, want);
}

void Scheduler::register_full_blocks(Sequence& s) {
  if (!blocks_.prefix_caching()) return;
  const int bs = blocks_.block_size();
  int computed = s.num_computed;
  if (s.pending) computed = std::min(computed, static_cast<int>(s.tokens.size()) - 1);
  const int full = computed / bs;
  while (static_cast<int>(s.block_hashes.size()) < full) {
    const auto i = s.block_hashes.size();
    const BlockHash parent = i == 0 ? 0 : s.block_hashes[i - 1];
    const BlockHash h = block_hash(s, i, parent);
    s.block_hashes.push_back(h);
    blocks_.register_full(s.blocks[i], h);
  }
}

const StepPlan& Scheduler::schedule() {
  plan_.entries.clear();
  plan_.finished.clear();
  plan_.preempted.clear();
  plan_.tokens = 0;
  const core::Nanos now = clock_.now_ns();

  // 1. Cancellations and deadlines take effect now.
  auto expire = [&](SeqId id) {
    Sequence& s = seq(id);
    if (s.cancel_requested) {
      finish(s, s.cancel_reason == FinishReason::kTimeout ? SeqEvent::kTimeout : SeqEvent::kCancel,
             s.cancel_reason);
    } else if (s.deadline != 0 && now >= s.deadline) {
      finish(s, SeqEvent::kTimeout, FinishReason::kTimeout);
    } else {
      return false;
    }
    plan_.finished.push_back(id);
    return true;
  };
  for (std::size_t i = 0; i < running_.size();) {
    if (!expire(running_[i])) ++i;
  }
  for (auto& q : waiting_) {
    for (std::size_t i = 0; i < q.size();) {
      if (!expire(q[i])) ++i;
    }
  }

  int budget = config_.max_batch_tokens;
  int slots = config_.max_seqs;
  int image_budget = config_.max_image_tokens_per_step > 0 ? config_.max_image_tokens_per_step
                                                           : config_.max_batch_tokens;
  bool encodes = false;  // an image request is already encoded in this step
  auto by_class_then_age = [&](SeqId a, SeqId b) {
    const Sequence& x = seq(a);
    const Sequence& y = seq(b);
    const auto cx = effective_class(x, now);
    const auto cy = effective_class(y, now);
    if (cx != cy) return cx < cy;
    return x.times.queued < y.times.queued || (x.times.queued == y.times.queued && a < b);
  };
  std::vector<SeqId> order(running_.begin(), running_.end());
  std::sort(order.begin(), order.end(), by_class_then_age);

  // 2. Decodes: one token each, a new block at block boundaries (preempting
  // lower-class or younger work when none is free).
  for (SeqId id : order) {
    if (budget == 0 || slots == 0) break;
    auto it = seqs_.find(id);
    if (it == seqs_.end()) continue;
    Sequence& s = *it->second;
    if (s.state != SeqState::kDecoding) continue;
    // Its pending token is its last: it ends when that token is resolved.
    if (s.generated() >= s.max_new_tokens ||
        static_cast<int>(s.tokens.size()) >= config_.max_context) {
      continue;
    }
    bool ok = ensure_blocks(s, s.num_computed + 1);
    while (!ok) {
      Sequence* victim = pick_victim(s, false);
      if (victim == nullptr) break;
      preempt(*victim);
      ok = ensure_blocks(s, s.num_computed + 1);
    }
    if (!ok) continue;  // waits for blocks that finishing sequences will free
    plan_.entries.push_back({id, s.num_computed, 1, true});
    --budget;
    --slots;
    ++plan_.tokens;
  }

  // 3. Prompts being computed continue, in chunks.
  for (SeqId id : order) {
    if (budget == 0 || slots == 0) break;
    auto it = seqs_.find(id);
    if (it == seqs_.end()) continue;
    Sequence& s = *it->second;
    if (s.state != SeqState::kPrefilling) continue;
    const int remaining = static_cast<int>(s.tokens.size()) - s.num_computed;
    int chunk = image_chunk(s, std::min({remaining, budget, config_.prefill_chunk}));
    if (chunk == 0) continue;  // the next image needs a step of its own
    if (!ensure_blocks(s, s.num_computed + chunk)) {
      // Take what the blocks it holds allow; wait for the rest.
      chunk =
          image_chunk(s, static_cast<int>(s.blocks.size()) * blocks_.block_size() - s.num_computed);
      if (chunk <= 0) continue;
    }
    plan_.entries.push_back(
        {id, s.num_computed, chunk, s.num_computed + chunk == static_cast<int>(s.tokens.size())});
    budget -= chunk;
    --slots;
    plan_.tokens += chunk;
  }

  // 4. Admission: the highest effective class first (aged batch work counts
  // as interactive), preempted work before new work of its class.
  const int watermark = std::max(1, blocks_.num_blocks() / 100);
  bool blocked = false;
  while (budget > 0 && slots > 0 && !blocked) {
    Sequence* next = nullptr;
    std::size_t next_cls = 0, next_pos = 0;
    for (std::size_t cls = 0; cls < kPriorityClasses; ++cls) {
      for (std::size_t pos = 0; pos < waiting_[cls].size(); ++pos) {
        Sequence& c = seq(waiting_[cls][pos]);
        // A pending token is recomputed only once it is known.
        if (!group_ready(c) || c.pending) continue;
        // Preempted this very step: taking its blocks back now is pure thrash.
        if (std::find(plan_.preempted.begin(), plan_.preempted.end(), c.id) !=
            plan_.preempted.end()) {
          continue;
        }
        if (next == nullptr || by_class_then_age(c.id, next->id)) {
          next = &c;
          next_cls = cls;
          next_pos = pos;
        }
        break;  // only the first ready item of each queue competes
      }
    }
    if (next == nullptr) break;
    Sequence& s = *next;
    int image_tokens = 0;
    if (s.images_unencoded) {
      for (const auto& img : s.images) image_tokens += img.rows;
      if (encodes && image_tokens > image_budget) break;  // next step's towers
    }
    match_prefix(s);
    const int remaining = static_cast<int>(s.tokens.size()) - s.num_computed;
    const int chunk = image_chunk(s, std::min({remaining, budget, config_.prefill_chunk}));
    // Admit only when the whole context fits next to one block of growth per
    // running sequence (plus a small watermark): admitting on the first chunk
    // alone would soon force preemptions of the work already running.
    const int bs = blocks_.block_size();
    const int all_blocks = (static_cast<int>(s.tokens.size()) + bs - 1) / bs;
    const int missing = std::max(0, all_blocks - static_cast<int>(s.blocks.size()));
    const int reserve = running_.empty() ? 0 : watermark + static_cast<int>(running_.size());
    bool ok = chunk > 0 && blocks_.free_blocks() - missing >= reserve &&
              ensure_blocks(s, s.num_computed + chunk);
    while (!ok && chunk > 0) {
      // Only strictly lower classes make room for an admission.
      Sequence* victim = pick_victim(s, true);
      if (victim == nullptr) break;
      preempt(*victim);
      ok = ensure_blocks(s, s.num_computed + chunk);
    }
    if (!ok) {
      // Head-of-line: later work of lower classes must not overtake it.
      for (std::size_t i = 0; i < s.blocks.size(); ++i) blocks_.release(s.blocks[i]);
      s.blocks.clear();
      s.block_hashes.clear();
      s.num_computed = 0;
      blocked = true;
      break;
    }
    waiting_[next_cls].erase(waiting_[next_cls].begin() + static_cast<std::ptrdiff_t>(next_pos));
    const bool fresh = s.state == SeqState::kWaiting;
    move_state(s, SeqEvent::kSchedule);
    running_.push_back(s.id);
    if (fresh) {
      ++stats_.admitted;
      stats_.prompt_tokens += static_cast<std::uint64_t>(s.prompt_len);
      stats_.cached_prompt_tokens += static_cast<std::uint64_t>(s.num_cached_prompt);
    }
    if (s.times.first_scheduled == 0) s.times.first_scheduled = now;
    if (s.images_unencoded) {
      s.images_unencoded = false;
      image_budget -= image_tokens;
      encodes = true;
    }
    plan_.entries.push_back(
        {s.id, s.num_computed, chunk, s.num_computed + chunk == static_cast<int>(s.tokens.size())});
    budget -= chunk;
    --slots;
    plan_.tokens += chunk;
  }
  // Every running sequence waits for blocks the others hold: break the
  // deadlock by preempting the lowest, youngest one, within the preemption
  // bound if possible, past it only if every candidate reached it.
  // (Sequences whose pending token is still on its way wait for it, not
  // for blocks.)
  const bool any_pending =
      std::any_of(running_.begin(), running_.end(), [&](SeqId id) { return seq(id).pending; });
  if (plan_.entries.empty() && running_.size() > 1 && !any_pending) {
    Sequence* victim = nullptr;
    for (int pass = 0; pass < 2 && victim == nullptr; ++pass) {
      for (SeqId id : running_) {
        Sequence& c = seq(id);
        if (pass == 0 && c.preemptions >= config_.max_preemptions) continue;
        if (victim == nullptr || c.priority > victim->priority ||
            (c.priority == victim->priority && c.times.queued > victim->times.queued)) {
          victim = &c;
        }
      }
    }
    preempt(*victim);
  }
  return plan_;
}

void Scheduler::commit() {
  for (const PlanEntry& e : plan_.entries) {
    auto it = seqs_.find(e.id);
    if (it == seqs_.end()) continue;
    Sequence& s = *it->second;
    if (s.state == SeqState::kFinished) continue;
    s.num_computed += e.count;
    register_full_blocks(s);
    if (!e.wants_logits) continue;
    s.tokens.push_back(kPendingToken);
    s.pending = true;
    if (s.state == SeqState::kPrefilling) {
      move_state(s, SeqEvent::kPromptDone);
      if (s.group_leader) group_prompt_done_[s.group] = true;
    }
  }
}

Status Scheduler::resolve(std::span<const StepOutcome> outcomes) {
  const core::Nanos now = clock_.now_ns();
  for (const StepOutcome& o : outcomes) {
    auto it = seqs_.find(o.id);
    if (it == seqs_.end() || it->second->state == SeqState::kFinished) continue;
    Sequence& s = *it->second;
    if (!s.pending) return Status(ErrorCode::kInternalError, "a step outcome has no pending token");
    s.pending = false;
    if (o.token >= 0) {
      s.tokens.back() = o.token;
      if (s.times.first_token == 0) s.times.first_token = now;
      register_full_blocks(s);
    } else {
      s.tokens.pop_back();
    }
    if (o.finish != FinishReason::kNone) {
      finish(s, o.finish == FinishReason::kError ? SeqEvent::kFail : SeqEvent::kFinish, o.finish);
    } else if (s.generated() >= s.max_new_tokens ||
               static_cast<int>(s.tokens.size()) >= config_.max_context) {
      finish(s, SeqEvent::kFinish, FinishReason::kLength);
    }
  }
  return Status::ok();
}

Status Scheduler::complete(std::span<const StepOutcome> outcomes) {
  std::size_t wanted = 0;
  for (const PlanEntry& e : plan_.entries) {
    auto it = seqs_.find(e.id);
    if (it == seqs_.end() || it->second->state == SeqState::kFinished || !e.wants_logits) continue;
    if (wanted >= outcomes.size() || outcomes[wanted].id != e.id) {
      return Status(ErrorCode::kInternalError, "step outcomes do not match the plan");
    }
    ++wanted;
  }
  if (wanted != outcomes.size()) {
    return Status(ErrorCode::kInternalError, "more step outcomes than sequences wanting logits");
  }
  commit();
  return resolve(outcomes);
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s = stats_;
  for (std::size_t c = 0; c < kPriorityClasses; ++c)
    s.waiting[c] = static_cast<int>(waiting_[c].size());
  s.running = static_cast<int>(running_.size());
  return s;
}

bool Scheduler::has_work(Priority* top, core::Nanos* oldest_wait) const {
  const core::Nanos now = clock_.now_ns();
  bool any = false;
  Priority best = Priority::kBatch;
  core::Nanos oldest = 0;
  for (std::size_t c = 0; c < kPriorityClasses; ++c) {
    for (SeqId id : waiting_[c]) {
      const Sequence& s = *seqs_.at(id);
      const Priority p = effective_class(s, now);
      const core::Nanos wait = now - s.times.queued;
      if (!any || p < best || (p == best && wait > oldest)) {
        best = p;
        oldest = wait;
      }
      any = true;
    }
  }
  for (SeqId id : running_) {
    const Sequence& s = *seqs_.at(id);
    if (!any || s.priority < best) {
      best = s.priority;
      oldest = 0;
    }
    any = true;
  }
  if (top != nullptr) *top = best;
  if (oldest_wait != nullptr) *oldest_wait = oldest;
  return any;
}

}  // namespace mlxs::engine
