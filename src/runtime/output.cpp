#include "runtime/output.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "core/log.h"
#include "protocol/envelope.h"

namespace mlxs::runtime {

namespace {

// Text pieces longer than this are split over several chunk tokens, so one
// token stays far below the line cap even when every byte needs escaping.
constexpr std::size_t kMaxPieceBytes = 4096;
// Token ids per stream.step entry before it is split.
constexpr std::size_t kMaxIdsPerEntry = 1024;
// With top_logprobs, ids per entry are bounded so that the alternatives
// (about this many bytes each, text and escaping included) fit a line.
constexpr std::size_t kAlternativeBytes = 96;

std::size_t ids_per_entry(int top_logprobs, std::size_t budget) {
  if (top_logprobs <= 0) return kMaxIdsPerEntry;
  const std::size_t per_token = static_cast<std::size_t>(top_logprobs) * kAlternativeBytes + 32;
  return std::clamp<std::size_t>(budget / per_token, 1, kMaxIdsPerEntry);
}
// Bytes gathered before one write().
constexpr std::size_t kWriteBatchBytes = 16 * 1024;

std::size_t utf8_char_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  if ((lead >> 3) == 0x1e) return 4;
  return 1;  // a stray byte: a "character" of its own
}

std::size_t estimate(const StepOutput& step) {
  std::size_t bytes = 64;
  for (const auto& d : step.deltas) {
    bytes += 64;
    for (const auto& t : d.tokens) bytes += t.text.size() + 48 + t.top.size() * kAlternativeBytes;
  }
  return bytes;
}

double tokens_per_second(const StreamEnd& end) {
  const double decode = end.total_time - end.time_to_first_token;
  if (decode > 0) return static_cast<double>(end.tokens_generated) / decode;
  if (end.total_time > 0) return static_cast<double>(end.tokens_generated) / end.total_time;
  return 0.0;
}

}  // namespace

std::vector<std::string> split_utf8(const std::string& text, std::size_t max_bytes) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = begin;
    while (end < text.size()) {
      const std::size_t len = utf8_char_len(static_cast<unsigned char>(text[end]));
      if (end > begin && end + len - begin > max_bytes) break;
      end = std::min(text.size(), end + len);
    }
    out.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  if (out.empty()) out.emplace_back();
  return out;
}

struct Output::Pending {
  explicit Pending(std::shared_ptr<StreamRecord> r)
      : record(std::move(r)), builder(record->stream_id) {}
  std::shared_ptr<StreamRecord> record;
  protocol::ChunkLineBuilder builder;
  core::Nanos first_at = 0;
  bool any_sent = false;
  std::string carry;  // text waiting for the next token
};

Output::Output(int fd, const OutputOptions& options, const core::Clock& clock)
    : fd_(fd), options_(options), clock_(clock) {}

Output::~Output() {
  stop();
}

void Output::start() {
  thread_ = std::thread([this] { loop(); });
}

void Output::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Output::send_line(std::string line) {
  {
    std::lock_guard lock(mutex_);
    queued_bytes_ += line.size();
    queue_.push_back(Entry{std::move(line), std::nullopt});
  }
  cv_.notify_one();
}

void Output::send_step(StepOutput step) {
  if (step.deltas.empty()) return;
  {
    std::lock_guard lock(mutex_);
    queued_bytes_ += estimate(step);
    queue_.push_back(Entry{{}, std::move(step)});
  }
  cv_.notify_one();
}

bool Output::backlogged() const {
  return queued_bytes_.load() > options_.max_backlog_bytes;
}

void Output::set_on_broken(std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  on_broken_ = std::move(fn);
}

void Output::loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (queue_.empty() && !stopping_) {
      if (const auto deadline = next_deadline()) {
        const core::Nanos wait = std::max<core::Nanos>(0, *deadline - clock_.now_ns());
        cv_.wait_for(lock, std::chrono::nanoseconds(wait),
                     [&] { return !queue_.empty() || stopping_; });
      } else {
        cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      }
    }
    std::deque<Entry> batch;
    batch.swap(queue_);
    const bool last = stopping_;
    lock.unlock();
    std::size_t done_bytes = 0;
    for (Entry& e : batch) {
      if (e.step) {
        done_bytes += estimate(*e.step);
        handle_step(*e.step);
      } else {
        done_bytes += e.line.size();
        emit(std::move(e.line));
      }
    }
    flush_due(clock_.now_ns(), last);
    write_out();
    queued_bytes_ -= std::min(done_bytes, queued_bytes_.load());
    lock.lock();
    if (last && queue_.empty()) break;
  }
}

void Output::handle_step(StepOutput& step) {
  if (step_mode_.load()) {
    handle_step_mode(step);
    return;
  }
  const core::Nanos now = clock_.now_ns();
  for (StreamDelta& d : step.deltas) handle_chunks(d, now);
}

void Output::handle_chunks(StreamDelta& delta, core::Nanos now) {
  StreamRecord& rec = *delta.record;
  auto& slot = pending_[&rec];
  if (!slot) slot = std::make_unique<Pending>(delta.record);
  Pending& p = *slot;
  auto add_token = [&](std::int32_t id, std::string text, const std::optional<double>& logprob,
                       std::vector<protocol::TopLogprob>* top) {
    const auto pieces = text.size() > kMaxPieceBytes ? split_utf8(text, kMaxPieceBytes)
                                                     : std::vector<std::string>{std::move(text)};
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      protocol::ChunkToken t;
      t.stream_id = rec.stream_id;
      t.token = pieces[i];
      t.token_id = id;
      if (i == 0) {
        t.logprob = logprob;
        if (top != nullptr && rec.top_logprobs > 0) t.top_logprobs = std::move(*top);
      }
      if (rec.style == StreamStyle::kBatcher) {
        // The original's batchers send every token on its own.
        emit(protocol::write_notification(protocol::kStreamChunk, protocol::to_json(t)));
        p.any_sent = true;
        continue;
      }
      std::string json = protocol::ChunkLineBuilder::token_json(t);
      if (!p.builder.empty() && p.builder.size_with(json.size()) > options_.notification_budget)
        flush_chunks(p);
      p.builder.add_serialised(std::move(json));
      if (p.builder.count() == 1) p.first_at = now;
      if (!p.any_sent || p.builder.count() >= std::max<std::size_t>(1, rec.chunk_batch))
        flush_chunks(p);
    }
  };
  for (TokenOut& t : delta.tokens) {
    if (t.id < 0) {
      p.carry += t.text;
      continue;
    }
    std::string text = std::move(p.carry);
    p.carry.clear();
    text += t.text;
    add_token(t.id, std::move(text), t.logprob, &t.top);
  }
  if (delta.end) {
    if (!p.carry.empty() && !delta.end->error) {
      std::string tail = std::move(p.carry);
      p.carry.clear();
      add_token(rec.end_token_id, std::move(tail), std::nullopt, nullptr);
    }
    flush_chunks(p);
    end_stream(delta);
    pending_.erase(&rec);
  }
}

void Output::handle_step_mode(StepOutput& step) {
  const std::string head = R"({"jsonrpc":"2.0","method":"stream.step","params":{"model_id":)" +
                           protocol::dump(core::Json(step.model_id)) + R"(,"step":)" +
                           std::to_string(step.step) + R"(,"streams":[)";
  std::string entries;
  std::size_t count = 0;
  auto flush_line = [&] {
    if (count == 0) return;
    emit(head + entries + "]}}");
    entries.clear();
    count = 0;
  };
  auto add_entry = [&](const protocol::StepStream& e) {
    std::string json = protocol::dump(protocol::to_json(e));
    if (count > 0 && head.size() + entries.size() + json.size() + 4 > options_.notification_budget)
      flush_line();
    if (count > 0) entries += ',';
    entries += json;
    ++count;
  };
  for (StreamDelta& d : step.deltas) {
    StreamRecord& rec = *d.record;
    std::string text;
    // Chunks left from before the mode changed go first.
    if (auto it = pending_.find(&rec); it != pending_.end()) {
      flush_chunks(*it->second);
      text = std::move(it->second->carry);
      pending_.erase(it);
    }
    std::vector<std::int32_t> ids;
    std::vector<double> logprobs;
    std::vector<std::vector<protocol::TopLogprob>> tops;
    for (TokenOut& t : d.tokens) {
      text += t.text;
      if (t.id >= 0) {
        ids.push_back(t.id);
        if (rec.logprobs) logprobs.push_back(t.logprob.value_or(0.0));
        if (rec.top_logprobs > 0) tops.push_back(std::move(t.top));
      }
    }
    if (!ids.empty() || !text.empty()) {
      const auto pieces = split_utf8(text, kMaxPieceBytes);
      const std::size_t per_entry = ids_per_entry(rec.top_logprobs, options_.notification_budget);
      const std::size_t id_groups = (ids.size() + per_entry - 1) / per_entry;
      const std::size_t parts = std::max(pieces.size(), std::max<std::size_t>(1, id_groups));
      for (std::size_t i = 0; i < parts; ++i) {
        protocol::StepStream e;
        e.stream_id = rec.stream_id;
        const std::size_t lo = std::min(ids.size(), i * per_entry);
        const std::size_t hi = std::min(ids.size(), lo + per_entry);
        e.token_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(lo),
                           ids.begin() + static_cast<std::ptrdiff_t>(hi));
        if (rec.logprobs) {
          e.logprobs = std::vector<double>(logprobs.begin() + static_cast<std::ptrdiff_t>(lo),
                                           logprobs.begin() + static_cast<std::ptrdiff_t>(hi));
        }
        if (rec.top_logprobs > 0) {
          e.top_logprobs = std::vector<std::vector<protocol::TopLogprob>>(
              std::make_move_iterator(tops.begin() + static_cast<std::ptrdiff_t>(lo)),
              std::make_move_iterator(tops.begin() + static_cast<std::ptrdiff_t>(hi)));
        }
        if (i < pieces.size()) e.text = pieces[i];
        add_entry(e);
      }
    }
  }
  flush_line();
  for (StreamDelta& d : step.deltas) {
    if (d.end) end_stream(d);
  }
}

void Output::end_stream(const StreamDelta& delta) {
  const StreamRecord& rec = *delta.record;
  const StreamEnd& end = *delta.end;
  protocol::StreamEvent event;
  event.stream_id = rec.stream_id;
  if (rec.style == StreamStyle::kBatcher) {
    protocol::BatcherStats stats;
    stats.tokens_generated = end.tokens_generated;
    if (end.error) {
      stats.finish_reason = "error";
      stats.error = end.error->message();
    } else {
      stats.finish_reason = end.finish_reason;
      stats.duration_ms = end.total_time * 1e3;
      stats.ttft_ms = end.time_to_first_token * 1e3;
      stats.tokens_per_sec = tokens_per_second(end);
    }
    event.event = "completed";
    event.finish_reason = stats.finish_reason;
    event.stats = std::move(stats);
    emit(protocol::write_notification(protocol::kStreamEvent, protocol::to_json(event)));
    return;
  }
  if (end.error) {
    event.event = "error";
    event.error = end.error->message();
    event.code = std::string(end.error->code_name());
    event.prompt_tokens = end.prompt_tokens;
    event.cached_tokens = end.cached_tokens;
    emit(protocol::write_notification(protocol::kStreamEvent, protocol::to_json(event)));
    return;
  }
  protocol::StreamStats stats;
  stats.stream_id = rec.stream_id;
  stats.tokens_generated = end.tokens_generated;
  stats.time_to_first_token = end.time_to_first_token;
  stats.total_time = end.total_time;
  stats.tokens_per_second = tokens_per_second(end);
  stats.prompt_tokens = end.prompt_tokens;
  stats.cached_tokens = end.cached_tokens;
  emit(protocol::write_notification(protocol::kStreamStats, protocol::to_json(stats)));
  event.event = "completed";
  event.prompt_tokens = end.prompt_tokens;
  event.cached_tokens = end.cached_tokens;
  event.finish_reason = end.finish_reason;
  emit(protocol::write_notification(protocol::kStreamEvent, protocol::to_json(event)));
}

void Output::flush_chunks(Pending& p) {
  if (p.builder.empty()) return;
  emit(p.builder.take_line());
  p.any_sent = true;
}

void Output::flush_due(core::Nanos now, bool all) {
  for (auto& [rec, p] : pending_) {
    if (!p->builder.empty() && (all || now - p->first_at >= options_.flush_interval_ns))
      flush_chunks(*p);
  }
}

std::optional<core::Nanos> Output::next_deadline() const {
  std::optional<core::Nanos> best;
  for (const auto& [rec, p] : pending_) {
    if (p->builder.empty()) continue;
    const core::Nanos due = p->first_at + options_.flush_interval_ns;
    if (!best || due < *best) best = due;
  }
  return best;
}

void Output::emit(std::string line) {
  if (line.size() > options_.max_line_bytes) {
    // Every producer keeps below the cap; a longer line would get the
    // runtime killed by the original client, so it is dropped and logged.
    core::log_error("runtime_line_dropped",
                    {{"bytes", line.size()}, {"limit", options_.max_line_bytes}});
    return;
  }
  out_ += line;
  out_ += '\n';
  lines_.fetch_add(1);
  if (out_.size() >= kWriteBatchBytes) write_out();
}

void Output::write_out() {
  if (out_.empty()) return;
  if (broken_.load()) {
    out_.clear();
    return;
  }
  std::size_t done = 0;
  while (done < out_.size()) {
    const ssize_t n = ::write(fd_, out_.data() + done, out_.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pfd{fd_, POLLOUT, 0};
      ::poll(&pfd, 1, 100);
      continue;
    }
    broken_.store(true);
    core::log_warn("runtime_stdout_closed", {{"errno", errno}});
    std::function<void()> fn;
    {
      std::lock_guard lock(mutex_);
      fn = on_broken_;
    }
    if (fn) fn();
    break;
  }
  out_.clear();
}

}  // namespace mlxs::runtime
