#pragma once
// A one-line progress display on stderr for long benchmarks (a bar when the
// total is known). Silent when disabled or when stderr is not a terminal and
// MLXS_PROGRESS is unset; then only notes are printed, one per line.

#include <chrono>
#include <string>

namespace mlxs::bench {

class Progress {
 public:
  explicit Progress(bool enabled);
  void note(const std::string& what);
  void update(const std::string& what, long done, long total);
  void done();

 private:
  bool enabled_;
  bool tty_;
  bool open_line_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace mlxs::bench
