#pragma once
// What a control plane knows of the workers of its cluster: their latest
// announcement (the models they hold, their limits) and whether they are
// online. A worker is online from its first announcement until it says
// goodbye or stays silent for the offline timeout (missed heartbeats); an
// announcement after that brings it back. Announcements arrive from the
// network, so decoding bounds and checks every field. Not thread-safe (its
// owner locks); the clock is the caller's.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_config.h"
#include "core/clock.h"
#include "core/status.h"

namespace mlxs::cluster {

inline constexpr std::size_t kMaxAnnouncementBytes = 64u << 10;
inline constexpr int kMaxAnnouncedStreams = 1 << 20;

struct Announcement {
  std::string id;
  std::vector<WorkerModel> models;
  int sessions = 0;
  int max_sessions = 1;
  int max_streams = 1;
  int interval_ms = 0;
  // Streams in flight on the host, over every control plane's session, and
  // each control plane's share (by its name): a control plane routes by its
  // own streams plus the others' (absent: the host could not count them).
  std::optional<int> streams;
  std::map<std::string, int> streams_by_control;
};

std::string encode_announcement(const Announcement& a);
// TransportError for anything malformed, oversized or out of range.
core::Result<Announcement> decode_announcement(std::string_view payload);

class Directory {
 public:
  explicit Directory(core::Nanos offline_timeout_ns) : timeout_(offline_timeout_ns) {}

  // Records an announcement; true when the worker was unknown or offline
  // (it joins or rejoins).
  bool observe(Announcement a, core::Nanos now);
  // The worker said goodbye; true when it was online.
  bool leave(const std::string& id);
  // Workers silent past the timeout, now offline (each reported once).
  std::vector<std::string> expire(core::Nanos now);

  bool online(const std::string& id) const;
  std::optional<Announcement> get(const std::string& id) const;
  std::size_t online_count() const;

 private:
  struct Entry {
    Announcement last;
    core::Nanos seen = 0;
    bool online = false;
  };
  core::Nanos timeout_;
  std::map<std::string, Entry> entries_;
};

}  // namespace mlxs::cluster
