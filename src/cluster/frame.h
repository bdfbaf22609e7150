#pragma once
// How the worker protocol travels over NATS. Each newline-delimited JSON-RPC
// line becomes one NATS message "<seq> <line>" (the line without its '\n');
// "<seq>" alone says the sender closed the session. Sequence numbers start at
// 1 and grow by one per message of a direction, so a message lost between
// the two ends (core NATS delivers at most once: a server restart drops what
// it held) is seen as a gap, and the session ends with a coded error instead
// of a stream silently missing tokens. Subjects are named here too. Pure.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace mlxs::cluster {

struct Frame {
  std::uint64_t seq = 0;
  bool end = false;       // the sender closed the session
  std::string_view line;  // a protocol line (empty when end)
};

std::string encode_line(std::uint64_t seq, std::string_view line);
std::string encode_end(std::uint64_t seq);
// TransportError for anything else than the two forms above, a line with a
// '\n' or longer than `max_line_bytes`.
core::Result<Frame> decode_frame(std::string_view payload, std::size_t max_line_bytes);

// Checks that frames come in order: ok for the next sequence number,
// TransportError naming the gap otherwise.
class SequenceCheck {
 public:
  core::Status accept(std::uint64_t seq);
  std::uint64_t last() const { return last_; }

 private:
  std::uint64_t last_ = 0;
};

// Subjects of cluster `cluster` (tokens checked by valid_token).
std::string announce_subject(const std::string& cluster);  // workers -> control planes
std::string leave_subject(const std::string& cluster);     // a worker says goodbye
std::string discover_subject(const std::string& cluster);  // control plane asks for announcements
// Control planes -> workers, {"control": name} every heartbeat interval: a
// session's control plane is alive even while its slot sends nothing (a
// model load longer than the offline timeout).
std::string beat_subject(const std::string& cluster);
std::string attach_subject(const std::string& cluster, const std::string& worker);
// direction: "in" (control plane -> worker) or "out" (worker -> control plane).
std::string session_subject(const std::string& cluster, const std::string& worker,
                            const std::string& session, std::string_view direction);

}  // namespace mlxs::cluster
