#include "cli/in_process_worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "runtime/server.h"

namespace mlxs::cli {
namespace {

class InProcessWorker final : public control::WorkerHandle {
 public:
  InProcessWorker(int fd, runtime::RuntimeOptions options)
      : fd_(fd), streams_(std::make_shared<std::atomic<std::int64_t>>(0)) {
    options.streams_gauge = streams_;
    thread_ = std::thread([this, options = std::move(options)] {
      int code = 1;
      {
        runtime::Server server(fd_, fd_, options);
        code = server.run();
      }
      std::lock_guard lock(mutex_);
      exit_code_ = code;
      ::close(fd_);
      fd_ = -1;
    });
  }
  ~InProcessWorker() override {
    kill();
    if (thread_.joinable()) thread_.join();
  }

  void kill() override {
    std::lock_guard lock(mutex_);
    // Both ends see the end of input; the worker's run() then returns.
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }
  int wait() override {
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    return exit_code_;
  }
  std::string describe() const override { return "in-process"; }
  std::optional<std::int64_t> active_streams() const override {
    return streams_->load(std::memory_order_relaxed);
  }

 private:
  std::mutex mutex_;
  int fd_;
  int exit_code_ = 0;
  std::shared_ptr<std::atomic<std::int64_t>> streams_;
  std::thread thread_;
};

}  // namespace

control::WorkerLauncher in_process_launcher(runtime::RuntimeOptions options) {
  // Writes to a closed socket fail instead of killing the process.
  std::signal(SIGPIPE, SIG_IGN);
  options.announce_ready = false;
  options.exit_deadline_ms = 0;  // never _Exit the serving process
  return [options](const std::string& /*name*/) -> core::Result<control::LaunchedWorker> {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return core::make_error(core::ErrorCode::kIoError, "cannot create the worker's socket pair");
    }
    control::LaunchedWorker w;
    w.to_worker = fds[0];
    w.from_worker = fds[0];
    w.handle = std::make_unique<InProcessWorker>(fds[1], options);
    return w;
  };
}

}  // namespace mlxs::cli
