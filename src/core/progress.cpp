#include "core/progress.h"

#include <cstdio>
#include <utility>

#include <unistd.h>

#include <fmt/format.h>

namespace mlxs::core {

Progress::Progress(bool enabled, std::string label, bool tty_only)
    : enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0), label_(std::move(label)) {
  if (tty_only && !tty_) enabled_ = false;
}

void Progress::note(const std::string& what) {
  if (!enabled_) return;
  if (open_line_) std::fputs("\n", stderr);
  open_line_ = false;
  std::fprintf(stderr, "[%s] %s\n", label_.c_str(), what.c_str());
}

void Progress::update(const std::string& what, long done, long total) {
  if (!enabled_) return;
  if (done == shown_done_ && total == shown_total_) return;  // nothing new to draw
  const auto now = std::chrono::steady_clock::now();
  const bool last = done >= total;
  if (!last && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  shown_done_ = done;
  shown_total_ = total;
  if (!tty_) {
    if (last) std::fprintf(stderr, "[%s] %s %ld/%ld\n", label_.c_str(), what.c_str(), done, total);
    return;
  }
  const int width = 30;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : 0;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(width - filled), '.');
  std::fprintf(stderr, "\r[%s] %s [%s] %ld/%ld", label_.c_str(), what.c_str(), bar.c_str(), done,
               total);
  open_line_ = true;
  if (last) {
    std::fputs("\n", stderr);
    open_line_ = false;
  }
}

void Progress::done() {
  if (enabled_ && open_line_) std::fputs("\n", stderr);
  open_line_ = false;
}

}  // namespace mlxs::core
