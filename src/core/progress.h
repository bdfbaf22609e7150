#pragma once
// A one-line progress display on stderr for long work — benchmarks, model
// loading — (a bar when the total is known). On a terminal it redraws one
// line; off a terminal it prints only notes and each finished task, one per
// line, or nothing at all when made with `tty_only` (model loading, whose
// output is otherwise machine-readable logs).

#include <chrono>
#include <string>

namespace mlxs::core {

class Progress {
 public:
  // `label` prefixes every line ("[bench] ...").
  explicit Progress(bool enabled, std::string label = "bench", bool tty_only = false);
  void note(const std::string& what);
  void update(const std::string& what, long done, long total);
  void done();

 private:
  bool enabled_;
  bool tty_;
  std::string label_;
  bool open_line_ = false;
  long shown_done_ = -1, shown_total_ = -1;  // the last state drawn
  std::chrono::steady_clock::time_point last_;
};

}  // namespace mlxs::core
