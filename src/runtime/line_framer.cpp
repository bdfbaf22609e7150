#include "runtime/line_framer.h"

#include <algorithm>
#include <cctype>

namespace mlxs::runtime {

namespace {
bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}
}  // namespace

void LineFramer::end_line(std::vector<FramedLine>& out) {
  if (overflow_) {
    FramedLine line;
    line.oversized = true;
    line.bytes = overflow_bytes_;
    line.text = std::move(tail_);
    out.push_back(std::move(line));
  } else {
    if (!buffer_.empty() && buffer_.back() == '\r') buffer_.pop_back();
    if (!blank(buffer_)) {
      FramedLine line;
      line.bytes = buffer_.size();
      line.text = std::move(buffer_);
      out.push_back(std::move(line));
    }
  }
  buffer_.clear();
  tail_.clear();
  overflow_ = false;
  overflow_bytes_ = 0;
}

void LineFramer::feed(std::string_view bytes, std::vector<FramedLine>& out) {
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, nl);
    if (!overflow_ && buffer_.size() + piece.size() > max_) {
      // From here on only the line's length and last bytes are kept.
      overflow_ = true;
      overflow_bytes_ = buffer_.size();
      tail_ = std::move(buffer_);
      buffer_.clear();
    }
    if (overflow_) {
      overflow_bytes_ += piece.size();
      tail_.append(piece);
      if (tail_.size() > kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
    } else {
      buffer_.append(piece);
    }
    if (nl == std::string_view::npos) break;
    end_line(out);
    bytes.remove_prefix(nl + 1);
  }
}

std::optional<FramedLine> LineFramer::finish() {
  std::vector<FramedLine> out;
  if (overflow_ || !buffer_.empty()) end_line(out);
  if (out.empty()) return std::nullopt;
  return std::move(out.front());
}

}  // namespace mlxs::runtime
