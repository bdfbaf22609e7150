#pragma once
// Splits the bytes a worker writes into protocol lines with a bounded buffer.
// A line longer than the limit is never held in memory: its bytes are counted
// and dropped, and it is reported once as oversized (a worker that writes one
// is broken, and the client treats it as a protocol violation). Pure: no I/O.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mlxs::control {

struct ReadLine {
  std::string text;        // without '\n' (and a trailing '\r'); empty when oversized
  bool oversized = false;  // the line passed the limit; `bytes` says how long it was
  std::size_t bytes = 0;
};

class LineReader {
 public:
  explicit LineReader(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  // Appends every line that `bytes` completes to `out` (blank lines skipped).
  void feed(std::string_view bytes, std::vector<ReadLine>& out);
  // Bytes of the unfinished line held now (bounded by the limit).
  std::size_t pending() const { return partial_.size(); }
  // True once the unfinished line has passed the limit (known before its end).
  bool over_limit() const { return dropping_; }

 private:
  void finish_line(std::vector<ReadLine>& out);

  std::size_t max_;
  std::string partial_;
  bool dropping_ = false;
  std::size_t dropped_ = 0;
};

}  // namespace mlxs::control
