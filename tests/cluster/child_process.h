#pragma once
// Processes the cluster's end-to-end tests start (nats-server, worker hosts,
// control planes, `ip`): spawned with stdin from /dev/null and the test's
// output, killed (SIGKILL) when dropped, and found on the usual paths.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace mlxs::cluster::testing {

// The first executable `name` in the system directories or PATH; empty if none.
inline std::string find_program(const std::string& name) {
  std::vector<std::string> dirs = {"/usr/sbin", "/usr/bin",       "/sbin",
                                   "/bin",      "/usr/local/bin", "/usr/local/sbin"};
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::string p = path;
    for (std::size_t at = 0; at <= p.size();) {
      const auto colon = p.find(':', at);
      dirs.push_back(p.substr(at, colon == std::string::npos ? std::string::npos : colon - at));
      if (colon == std::string::npos) break;
      at = colon + 1;
    }
  }
  for (const auto& d : dirs) {
    const std::filesystem::path candidate = std::filesystem::path(d) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

// A child process of the test (stdin from /dev/null, output shared or quiet).
class Child {
 public:
  Child() = default;
  explicit Child(const std::vector<std::string>& argv, bool quiet = false) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (quiet) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    }
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept {
    stop(SIGKILL);
    pid_ = o.pid_;
    o.pid_ = -1;
    return *this;
  }
  ~Child() { stop(SIGKILL); }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Signals it and reaps it: SIGTERM gets 10 s to finish cleanly, then
  // SIGKILL. The exit status as waitpid reports it (-1 if none ran).
  int stop(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 1000 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (i == 999) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    pid_ = -1;
    return status;
  }
  // Waits (bounded) for it to exit on its own; its waitpid status, or -1.
  int wait_exit(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return -1;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace mlxs::cluster::testing
