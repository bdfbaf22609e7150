#pragma once
// A child process spoken to through its stdin and stdout, one line at a time
// (what `bench worker` needs to drive a runtime worker). Its stderr goes to
// /dev/null. The child is killed if it still runs when this object dies.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxs::bench {

class ChildProcess {
 public:
  static core::Result<ChildProcess> start(const std::string& binary,
                                          const std::vector<std::string>& args);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  core::Status write_line(const std::string& line);
  // The next line (without '\n'); nullopt at end of output or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  std::size_t bytes_read() const { return bytes_read_; }
  // Closes stdin and waits up to `timeout` for the exit code (-1: killed).
  int finish(std::chrono::milliseconds timeout);

 private:
  ChildProcess(pid_t pid, int in_fd, int out_fd) : pid_(pid), in_(in_fd), out_(out_fd) {}

  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buffer_;
  std::size_t scan_ = 0;  // bytes of buffer_ already searched for '\n'
  std::size_t bytes_read_ = 0;
};

}  // namespace mlxs::bench
