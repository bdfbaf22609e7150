#include "cluster/bridge.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

#include "control/line_reader.h"
#include "core/log.h"

namespace mlxs::cluster {

using core::ErrorCode;

namespace {

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Bridge::Bridge(NatsConnection& nats, std::string publish_subject, std::string subscribe_subject,
               int read_fd, int write_fd, std::size_t max_line_bytes, OnEnd on_end)
    : nats_(nats),
      publish_subject_(std::move(publish_subject)),
      subscribe_subject_(std::move(subscribe_subject)),
      read_fd_(read_fd),
      write_fd_(write_fd),
      max_line_bytes_(max_line_bytes),
      on_end_(std::move(on_end)) {
  last_received_.store(core::SteadyClock::instance().now_ns());
  if (::pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
}

Bridge::~Bridge() {
  close(core::Status(ErrorCode::kWorkerCrashed, "session closed"));
  if (reader_.joinable()) reader_.join();
  subscription_.reset();
  ::close(read_fd_);
  if (write_fd_ != read_fd_) ::close(write_fd_);
  for (const int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
}

core::Status Bridge::start() {
  if (wake_[0] < 0) return core::Status(ErrorCode::kIoError, "cannot create the bridge's pipe");
  auto sub = nats_.subscribe(subscribe_subject_,
                             [this](std::string_view data, std::string_view) { on_message(data); });
  if (!sub) return sub.status();
  subscription_ = std::move(*sub);
  if (core::Status s = nats_.flush(5000); !s.is_ok()) return s;
  reader_ = std::thread([this] { read_loop(); });
  return {};
}

void Bridge::close(const core::Status& why) {
  if (ended_.exchange(true)) return;
  {
    std::lock_guard lock(publish_mutex_);
    (void)nats_.publish(publish_subject_, encode_end(++sent_));
  }
  if (subscription_) subscription_->unsubscribe();
  // The local reader (WorkerClient or runtime server) sees the end of input.
  (void)::shutdown(read_fd_, SHUT_RDWR);
  if (write_fd_ != read_fd_) (void)::shutdown(write_fd_, SHUT_RDWR);
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  core::log_debug("bridge_closed", {{"subject", publish_subject_}, {"reason", why.message()}});
  if (on_end_) on_end_(why);
}

void Bridge::publish_line(std::string_view line) {
  core::Status s;
  {
    std::lock_guard lock(publish_mutex_);
    if (ended_.load()) return;
    s = nats_.publish(publish_subject_, encode_line(++sent_, line));
  }
  if (!s.is_ok()) close(s);
}

void Bridge::read_loop() {
  control::LineReader framer(max_line_bytes_);
  std::vector<control::ReadLine> lines;
  std::array<char, 64 * 1024> buf{};
  while (!ended_.load()) {
    std::array<pollfd, 2> fds{pollfd{read_fd_, POLLIN, 0}, pollfd{wake_[0], POLLIN, 0}};
    const int ready = ::poll(fds.data(), fds.size(), -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || (fds[1].revents & POLLIN) != 0) break;
    const ssize_t n = ::read(read_fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(core::Status(ErrorCode::kWorkerCrashed, "the local end of the session closed"));
      break;
    }
    lines.clear();
    framer.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), lines);
    for (const auto& line : lines) {
      if (line.oversized) {
        close(core::make_error(ErrorCode::kTransportError, "a local line of {} bytes (limit {})",
                               line.bytes, max_line_bytes_));
        return;
      }
      if (counter_ != nullptr) counter_->on_reply(line.text);
      publish_line(line.text);
    }
  }
}

void Bridge::on_message(std::string_view data) {
  if (ended_.load()) return;
  last_received_.store(core::SteadyClock::instance().now_ns());
  auto frame = decode_frame(data, max_line_bytes_);
  if (!frame) return close(frame.status());
  if (core::Status s = received_.accept(frame->seq); !s.is_ok()) return close(s);
  if (frame->end) {
    return close(core::Status(ErrorCode::kWorkerCrashed, "the peer closed the session"));
  }
  if (counter_ != nullptr) counter_->on_request(frame->line);
  std::string line(frame->line);
  line += '\n';
  if (!write_all(write_fd_, line)) {
    close(core::Status(ErrorCode::kWorkerCrashed, "the local end of the session closed"));
  }
}

}  // namespace mlxs::cluster
