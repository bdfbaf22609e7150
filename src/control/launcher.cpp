#include "control/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

extern char** environ;

namespace mlxs::control {

namespace {

class ChildProcess final : public WorkerHandle {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ~ChildProcess() override {
    // Never leave a zombie or an orphan behind.
    kill();
    wait();
  }
  void kill() override {
    if (!reaped_.load()) ::kill(pid_, SIGKILL);
  }
  int wait() override {
    std::lock_guard lock(mutex_);
    if (reaped_.load()) return status_;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) {
        status_ = -1;
        reaped_.store(true);
        return status_;
      }
    }
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    reaped_.store(true);
    return status_;
  }
  std::string describe() const override { return fmt::format("pid {}", pid_); }
  int pid() const override { return pid_; }

 private:
  const pid_t pid_;
  std::mutex mutex_;
  std::atomic<bool> reaped_{false};
  int status_ = -1;
};

core::Status spawn_error(const std::string& what, int err) {
  return core::Status(core::ErrorCode::kWorkerCrashed,
                      fmt::format("cannot start the worker: {}: {}", what, std::strerror(err)));
}

}  // namespace

std::vector<std::string> runtime_worker_argv(const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {"/proc/self/exe", "runtime"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return argv;
}

WorkerLauncher process_launcher(std::vector<std::string> argv) {
  ::signal(SIGPIPE, SIG_IGN);
  return [argv = std::move(argv)](const std::string& /*name*/) -> core::Result<LaunchedWorker> {
    if (argv.empty()) return core::Status(core::ErrorCode::kConfigError, "worker command is empty");
    int in_pipe[2];   // we write [1], the child reads [0]
    int out_pipe[2];  // the child writes [1], we read [0]
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) return spawn_error("pipe", errno);
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
      const int err = errno;
      ::close(in_pipe[0]);
      ::close(in_pipe[1]);
      return spawn_error("pipe", err);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (rc != 0) {
      ::close(in_pipe[1]);
      ::close(out_pipe[0]);
      return spawn_error(argv[0], rc);
    }
    LaunchedWorker w;
    w.to_worker = in_pipe[1];
    w.from_worker = out_pipe[0];
    w.handle = std::make_unique<ChildProcess>(pid);
    return w;
  };
}

}  // namespace mlxs::control
