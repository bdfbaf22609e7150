#include "serve_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>

#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::testing {

std::unique_ptr<ServeProcess> ServeProcess::start(const std::vector<std::string>& args,
                                                  std::string* error, int timeout_s) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    *error = "pipe failed";
    return nullptr;
  }
  std::vector<std::string> argv = {mlx_serving_binary(), "serve", "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(err_pipe[1], STDERR_FILENO);
    std::vector<char*> c_argv;
    for (auto& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    ::execv(c_argv[0], c_argv.data());
    ::_exit(127);
  }
  ::close(err_pipe[1]);
  std::unique_ptr<ServeProcess> p(new ServeProcess());
  p->pid_ = pid;
  p->err_fd_ = err_pipe[0];
  const std::regex address(R"(on http://[^:\s]+:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::string text;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{p->err_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(p->err_fd_, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    std::smatch m;
    if (std::regex_search(text, m, address)) {
      p->port_ = std::stoi(m[1]);
      break;
    }
  }
  p->log_ = text;
  if (p->port_ == 0) {
    *error = "serve did not start; its output:\n" + text;
    p->stop();
    return nullptr;
  }
  p->drain_ = std::thread([raw = p.get()] {
    char buf[4096];
    for (ssize_t n; (n = ::read(raw->err_fd_, buf, sizeof buf)) > 0;) {
      std::lock_guard lock(raw->mutex_);
      if (raw->log_.size() < (8u << 20)) raw->log_.append(buf, static_cast<std::size_t>(n));
    }
  });
  return p;
}

std::string ServeProcess::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

int ServeProcess::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    // A server that ignores SIGTERM for 20 s is killed (and the test sees it).
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
      if (i == 199) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
  }
  if (drain_.joinable()) drain_.join();
  if (err_fd_ >= 0) {
    ::close(err_fd_);
    err_fd_ = -1;
  }
  return exit_code_;
}

ServeProcess::~ServeProcess() {
  stop();
}

std::string synth_test_model() {
  static const std::string dir = [] {
    const std::string out = temp_dir() + "/serve-model";
    if (!std::filesystem::exists(out + "/config.json")) {
      const auto r =
          run_process({mlx_serving_binary(), "dev", "synth-model", "--preset", "tiny", "--arch",
                       "qwen3", "--tokenizer", "qwen3", "--dtype", "f32", "--out", out});
      if (r.exit_code != 0) return std::string();
    }
    return out;
  }();
  return dir;
}

}  // namespace mlxs::testing
