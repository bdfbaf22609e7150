#pragma once
// Splits the bytes of stdin into request lines with a bounded buffer: a line
// longer than the limit is not kept (its bytes are dropped as they arrive) and
// is reported once, with its last bytes so the server can still recover the
// request id. Pure: no I/O, so every framing case is unit-tested.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlxs::runtime {

struct FramedLine {
  std::string text;        // the line without '\n' (and without a trailing '\r')
  bool oversized = false;  // true: `text` holds only the line's last bytes
  std::size_t bytes = 0;   // the line's full length
};

class LineFramer {
 public:
  static constexpr std::size_t kTailBytes = 256;

  explicit LineFramer(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  // Appends the complete lines `bytes` finishes to `out` (blank lines skipped).
  void feed(std::string_view bytes, std::vector<FramedLine>& out);
  // At end of input: the last line when it had no '\n'.
  std::optional<FramedLine> finish();

 private:
  void end_line(std::vector<FramedLine>& out);

  std::size_t max_;
  std::string buffer_;
  bool overflow_ = false;
  std::size_t overflow_bytes_ = 0;
  std::string tail_;  // last bytes of an oversized line
};

}  // namespace mlxs::runtime
