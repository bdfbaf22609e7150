#include "cluster/frame.h"

#include <charconv>

#include <fmt/format.h>

namespace mlxs::cluster {

using core::ErrorCode;

std::string encode_line(std::uint64_t seq, std::string_view line) {
  std::string out = std::to_string(seq);
  out.reserve(out.size() + 1 + line.size());
  out += ' ';
  out += line;
  return out;
}

std::string encode_end(std::uint64_t seq) {
  return std::to_string(seq);
}

core::Result<Frame> decode_frame(std::string_view payload, std::size_t max_line_bytes) {
  const auto space = payload.find(' ');
  const std::string_view digits = payload.substr(0, space);
  if (digits.empty() || digits.size() > 19 || digits.front() == '0') {
    return core::make_error(ErrorCode::kTransportError,
                            "bad frame: no sequence number at its start");
  }
  Frame f;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), f.seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    return core::make_error(ErrorCode::kTransportError,
                            "bad frame: sequence number is not decimal");
  }
  if (space == std::string_view::npos) {
    f.end = true;
    return f;
  }
  f.line = payload.substr(space + 1);
  if (f.line.empty()) return core::make_error(ErrorCode::kTransportError, "bad frame: empty line");
  if (f.line.size() > max_line_bytes) {
    return core::make_error(ErrorCode::kTransportError, "bad frame: line of {} bytes (limit {})",
                            f.line.size(), max_line_bytes);
  }
  if (f.line.find('\n') != std::string_view::npos) {
    return core::make_error(ErrorCode::kTransportError, "bad frame: more than one line");
  }
  return f;
}

core::Status SequenceCheck::accept(std::uint64_t seq) {
  if (seq != last_ + 1) {
    return core::make_error(ErrorCode::kTransportError,
                            "messages lost between the hosts: got #{} after #{}", seq, last_);
  }
  last_ = seq;
  return {};
}

std::string announce_subject(const std::string& cluster) {
  return fmt::format("mlxs.{}.announce", cluster);
}
std::string leave_subject(const std::string& cluster) {
  return fmt::format("mlxs.{}.leave", cluster);
}
std::string discover_subject(const std::string& cluster) {
  return fmt::format("mlxs.{}.discover", cluster);
}
std::string beat_subject(const std::string& cluster) {
  return fmt::format("mlxs.{}.beat", cluster);
}
std::string attach_subject(const std::string& cluster, const std::string& worker) {
  return fmt::format("mlxs.{}.w.{}.attach", cluster, worker);
}
std::string session_subject(const std::string& cluster, const std::string& worker,
                            const std::string& session, std::string_view direction) {
  return fmt::format("mlxs.{}.w.{}.s.{}.{}", cluster, worker, session, direction);
}

}  // namespace mlxs::cluster
