#include "cluster/directory.h"

#include <algorithm>

#include "core/json_util.h"

namespace mlxs::cluster {

using core::ErrorCode;
using core::Json;

namespace {

core::Status bad(const std::string& what) {
  return core::make_error(ErrorCode::kTransportError, "bad announcement: {}", what);
}

bool int_in(const Json& obj, const char* key, int lo, int hi, int* out) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return false;
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
    return false;
  }
  const std::int64_t v = it->get<std::int64_t>();
  if (v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

bool short_string(const Json& v, std::size_t max) {
  return v.is_string() && !v.get_ref<const std::string&>().empty() &&
         v.get_ref<const std::string&>().size() <= max;
}

}  // namespace

std::string encode_announcement(const Announcement& a) {
  Json models = Json::array();
  for (const auto& m : a.models) models.push_back({{"id", m.id}, {"path", m.path}});
  Json j{{"v", 1},
         {"id", a.id},
         {"models", models},
         {"sessions", a.sessions},
         {"max_sessions", a.max_sessions},
         {"max_streams", a.max_streams},
         {"interval_ms", a.interval_ms}};
  if (a.streams) {
    j["streams"] = *a.streams;
    Json by = Json::object();
    for (const auto& [control, n] : a.streams_by_control) by[control] = n;
    j["streams_by_control"] = std::move(by);
  }
  return j.dump();
}

core::Result<Announcement> decode_announcement(std::string_view payload) {
  if (payload.size() > kMaxAnnouncementBytes) return bad("larger than 64 KiB");
  Json j = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  int version = 0;
  if (!int_in(j, "v", 1, 1, &version)) return bad("unknown version");
  Announcement a;
  const auto id = j.find("id");
  if (id == j.end() || !id->is_string() || !valid_token(id->get<std::string>())) {
    return bad("id must match [A-Za-z0-9_-]{1,64}");
  }
  a.id = id->get<std::string>();
  if (!int_in(j, "sessions", 0, 64, &a.sessions) ||
      !int_in(j, "max_sessions", 1, 64, &a.max_sessions) ||
      !int_in(j, "max_streams", 1, 65536, &a.max_streams) ||
      !int_in(j, "interval_ms", 0, 3'600'000, &a.interval_ms)) {
    return bad("sessions, max_sessions, max_streams and interval_ms must be integers in range");
  }
  const auto models = j.find("models");
  if (models == j.end() || !models->is_array() || models->size() > 256) {
    return bad("models must be a list of at most 256");
  }
  for (const auto& m : *models) {
    if (!m.is_object() || !m.contains("id") || !m.contains("path") || !short_string(m["id"], 256) ||
        !short_string(m["path"], 4096)) {
      return bad("each model needs an id and a path (strings)");
    }
    a.models.push_back({m["id"].get<std::string>(), m["path"].get<std::string>()});
  }
  if (j.contains("streams")) {
    int streams = 0;
    if (!int_in(j, "streams", 0, kMaxAnnouncedStreams, &streams)) {
      return bad("streams must be an integer in range");
    }
    a.streams = streams;
    const auto by = j.find("streams_by_control");
    // One entry per session at most (sessions are bounded by max_sessions).
    if (by == j.end() || !by->is_object() || by->size() > 64) {
      return bad("streams_by_control must be an object of at most 64 control planes");
    }
    for (const auto& [control, n] : by->items()) {
      int count = 0;
      if (!valid_token(control) || !n.is_number_integer() ||
          !int_in(*by, control.c_str(), 0, streams, &count)) {
        return bad("streams_by_control maps control plane names to counts within streams");
      }
      a.streams_by_control[control] = count;
    }
  }
  return a;
}

bool Directory::observe(Announcement a, core::Nanos now) {
  Entry& e = entries_[a.id];
  const bool joined = !e.online;
  e.last = std::move(a);
  e.seen = now;
  e.online = true;
  return joined;
}

bool Directory::leave(const std::string& id) {
  const auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.online) return false;
  it->second.online = false;
  return true;
}

std::vector<std::string> Directory::expire(core::Nanos now) {
  std::vector<std::string> gone;
  for (auto& [id, e] : entries_) {
    if (e.online && now - e.seen > timeout_) {
      e.online = false;
      gone.push_back(id);
    }
  }
  return gone;
}

bool Directory::online(const std::string& id) const {
  const auto it = entries_.find(id);
  return it != entries_.end() && it->second.online;
}

std::optional<Announcement> Directory::get(const std::string& id) const {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.last;
}

std::size_t Directory::online_count() const {
  return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
                                                [](const auto& p) { return p.second.online; }));
}

}  // namespace mlxs::cluster
