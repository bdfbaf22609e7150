#include "control/line_reader.h"

namespace mlxs::control {

namespace {
bool is_blank(std::string_view s) {
  for (const char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}
}  // namespace

void LineReader::finish_line(std::vector<ReadLine>& out) {
  if (dropping_) {
    ReadLine line;
    line.oversized = true;
    line.bytes = dropped_;
    out.push_back(std::move(line));
  } else {
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (!is_blank(partial_)) {
      ReadLine line;
      line.bytes = partial_.size();
      line.text = std::move(partial_);
      out.push_back(std::move(line));
    }
  }
  partial_.clear();
  dropping_ = false;
  dropped_ = 0;
}

void LineReader::feed(std::string_view bytes, std::vector<ReadLine>& out) {
  while (!bytes.empty()) {
    const std::size_t nl = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, nl);
    if (!dropping_ && partial_.size() + piece.size() > max_) {
      dropping_ = true;
      dropped_ = partial_.size();
      partial_.clear();
      partial_.shrink_to_fit();
    }
    if (dropping_) {
      dropped_ += piece.size();
    } else {
      partial_.append(piece);
    }
    if (nl == std::string_view::npos) return;
    finish_line(out);
    bytes.remove_prefix(nl + 1);
  }
}

}  // namespace mlxs::control
