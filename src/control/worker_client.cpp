#include "control/worker_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <vector>

#include <fmt/format.h>

#include "control/line_reader.h"
#include "core/log.h"
#include "protocol/wire_error.h"

namespace mlxs::control {

using core::ErrorCode;
using core::Status;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string excerpt(std::string_view line) {
  constexpr std::size_t kMax = 80;
  std::string out(line.substr(0, kMax));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  if (line.size() > kMax) out += "...";
  return out;
}

}  // namespace

WorkerClient::WorkerClient(std::string name, LaunchedWorker worker, ClientOptions options,
                           Callbacks callbacks, const core::Clock& clock)
    : name_(std::move(name)),
      worker_(std::move(worker)),
      options_(options),
      callbacks_(std::move(callbacks)),
            clock_(clock) {
  // A write to a worker that is gone must fail with EPIPE (and close this
  // client), not kill the process: every user of a client needs this, not
  // only the control plane (tests, benches, the in-process gateway).
  ::signal(SIGPIPE, SIG_IGN);
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
  last_read_.store(clock_.now_ns());
}

WorkerClient::~WorkerClient() {
  if (!closed_.load()) kill("client closed");
  if (reader_.joinable()) reader_.join();
  {
    std::lock_guard lock(mutex_);
    stopping_writer_ = true;
  }
  write_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (worker_.handle && !waited_.exchange(true)) exit_status_ = worker_.handle->wait();
  if (worker_.to_worker >= 0) ::close(worker_.to_worker);
  if (worker_.from_worker >= 0 && worker_.from_worker != worker_.to_worker) {
    ::close(worker_.from_worker);
  }
  for (int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
}

void WorkerClient::start() {
  reader_ = std::thread([this] { read_loop(); });
  writer_ = std::thread([this] { write_loop(); });
}

std::string WorkerClient::describe() const {
  return worker_.handle ? name_ + " (" + worker_.handle->describe() + ")" : name_;
}

std::size_t WorkerClient::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

void WorkerClient::fail(Reply& reply, Status status) {
  if (reply) reply(core::Result<Json>(std::move(status)));
}

void WorkerClient::call(std::string_view method, Json params, core::Nanos timeout_ns, Reply reply) {
  std::unique_lock lock(mutex_);
  if (closed_.load()) {
    lock.unlock();
    fail(reply, Status(ErrorCode::kWorkerCrashed, fmt::format("{} is not running", name_)));
    return;
  }
  if (pending_.size() >= options_.max_pending || write_queue_.size() >= options_.max_write_queue) {
    const std::size_t n = pending_.size();
    lock.unlock();
    fail(reply, Status(ErrorCode::kQueueFull,
                       fmt::format("{} has {} requests in flight (the limit)", name_, n)));
    return;
  }
  const std::int64_t id = next_id_++;
  Pending p;
  p.method = std::string(method);
  p.deadline = timeout_ns > 0 ? clock_.now_ns() + timeout_ns : 0;
  p.reply = std::move(reply);
  pending_.emplace(id, std::move(p));
  std::string line = protocol::write_request(Json(id), method, params);
  line += '\n';
  write_queue_.push_back(std::move(line));
  lock.unlock();
  write_cv_.notify_one();
}

core::Result<core::Json> WorkerClient::call_sync(std::string_view method, Json params,
                                                 core::Nanos timeout_ns) {
  auto promise = std::make_shared<std::promise<core::Result<Json>>>();
  auto future = promise->get_future();
  call(method, std::move(params), timeout_ns,
       [promise](core::Result<Json> r) { promise->set_value(std::move(r)); });
  // The answer always comes: result, error, Timeout (expire_overdue runs on
  // the supervisor's tick) or WorkerCrashed. Wait a little past the deadline
  // in case no tick comes (a lone call_sync outside the supervisor).
  if (timeout_ns > 0) {
    const auto wait = std::chrono::nanoseconds(timeout_ns) + std::chrono::milliseconds(50);
    if (future.wait_for(wait) != std::future_status::ready) {
      expire_overdue();
      future.wait();
    }
  }
  return future.get();
}

void WorkerClient::expire_overdue() {
  const core::Nanos now = clock_.now_ns();
  std::vector<Pending> overdue;
  {
    std::lock_guard lock(mutex_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline != 0 && it->second.deadline <= now) {
        overdue.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : overdue) {
    fail(p.reply, Status(ErrorCode::kTimeout,
                         fmt::format("{}: {} timed out waiting for the worker", name_, p.method)));
  }
}

void WorkerClient::kill(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (close_reason_.empty()) close_reason_ = reason;
  }
  if (worker_.handle) worker_.handle->kill();
  if (wake_[1] >= 0) {
    const char byte = 'k';
    [[maybe_unused]] const ssize_t n = ::write(wake_[1], &byte, 1);
  }
}

int WorkerClient::wait_exit(core::Nanos grace_ns) {
  {
    std::unique_lock lock(mutex_);
    closed_cv_.wait_for(lock, std::chrono::nanoseconds(grace_ns),
                        [this] { return closed_.load(); });
  }
  if (!closed_.load()) kill("did not exit in time");
  if (reader_.joinable()) reader_.join();
  if (worker_.handle && !waited_.exchange(true)) exit_status_ = worker_.handle->wait();
  return exit_status_;
}

void WorkerClient::write_loop() {
  for (;;) {
    std::string line;
    {
      std::unique_lock lock(mutex_);
      write_cv_.wait(lock, [this] { return stopping_writer_ || !write_queue_.empty(); });
      if (stopping_writer_) return;
      line = std::move(write_queue_.front());
      write_queue_.pop_front();
    }
    if (!write_all(worker_.to_worker, line)) {
      kill(fmt::format("cannot write to the worker: {}", std::strerror(errno)));
      return;
    }
  }
}

void WorkerClient::read_loop() {
  LineReader reader(options_.max_line_bytes);
  std::vector<ReadLine> lines;
  std::vector<char> buf(kReadChunk);
  std::string violation;
  bool open = true;
  while (open && violation.empty()) {
    pollfd fds[2] = {{worker_.from_worker, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    const int nfds = wake_[0] >= 0 ? 2 : 1;
    const int rc = ::poll(fds, static_cast<nfds_t>(nfds), -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (nfds == 2 && (fds[1].revents & POLLIN) != 0) break;  // killed: stop reading now
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t n = ::read(worker_.from_worker, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    last_read_.store(clock_.now_ns());
    lines.clear();
    reader.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), lines);
    for (const ReadLine& line : lines) {
      if (line.oversized) {
        violation =
            fmt::format("a line of {} bytes (limit {})", line.bytes, options_.max_line_bytes);
        break;
      }
      handle_line(line.text);
      std::lock_guard lock(mutex_);
      if (!violation_.empty()) {
        violation = violation_;
        break;
      }
    }
    if (violation.empty() && reader.over_limit()) {
      violation = fmt::format("a line longer than {} bytes", options_.max_line_bytes);
    }
  }
  if (!violation.empty()) {
    core::log_error("worker_protocol_violation", {{"worker", name_}, {"reason", violation}});
    kill("protocol violation: " + violation);
  }
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    reason = close_reason_.empty() ? "the worker exited" : close_reason_;
  }
  close_connection(Status(ErrorCode::kWorkerCrashed, fmt::format("{}: {}", name_, reason)));
}

void WorkerClient::handle_line(std::string_view line) {
  auto parsed = protocol::parse_message(line);
  if (!parsed.is_ok()) {
    std::lock_guard lock(mutex_);
    violation_ = "not a JSON-RPC message: " + excerpt(line);
    return;
  }
  if (auto* n = std::get_if<protocol::Notification>(&*parsed)) {
    if (callbacks_.on_notification) {
      delivering_.store(true);
      callbacks_.on_notification(std::move(*n));
      delivering_.store(false);
    }
    return;
  }
  auto& r = std::get<protocol::Response>(*parsed);
  if (!r.id.is_number_integer()) {
    // Errors about frames it could not read carry a null id: we sent that
    // frame, so the worker and we disagree about the protocol.
    std::lock_guard lock(mutex_);
    violation_ = "a response without a request id: " + excerpt(line);
    return;
  }
  Pending p;
  {
    std::lock_guard lock(mutex_);
    const auto it = pending_.find(r.id.get<std::int64_t>());
    if (it == pending_.end()) {
      // Answered after its timeout: the caller already has its Timeout.
      core::log_debug("worker_late_reply", {{"worker", name_}, {"id", r.id}});
      return;
    }
    p = std::move(it->second);
    pending_.erase(it);
  }
  delivering_.store(true);
  if (r.error) {
    fail(p.reply, Status(protocol::error_code_of(*r.error), r.error->message));
  } else if (p.reply) {
    p.reply(core::Result<Json>(r.result ? std::move(*r.result) : Json(nullptr)));
  }
  delivering_.store(false);
}

void WorkerClient::close_connection(const Status& why) {
  std::map<std::int64_t, Pending> pending;
  {
    std::lock_guard lock(mutex_);
    if (closed_.load()) return;
    closed_.store(true);
    stopping_writer_ = true;
    pending.swap(pending_);
    write_queue_.clear();
  }
  write_cv_.notify_all();
  closed_cv_.notify_all();
  for (auto& [id, p] : pending) {
    fail(p.reply, Status(ErrorCode::kWorkerCrashed,
                         fmt::format("{} (while waiting for {})", why.message(), p.method)));
  }
  if (callbacks_.on_closed) callbacks_.on_closed(why);
}

}  // namespace mlxs::control
