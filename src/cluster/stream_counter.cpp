#include "cluster/stream_counter.h"

#include "core/json_util.h"

namespace mlxs::cluster {

using core::Json;

namespace {

// The object a line holds, or null (not JSON, not an object).
Json parse_object(std::string_view line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : Json();
}

}  // namespace

void StreamCounter::on_request(std::string_view line) {
  if (line.find("\"generate\"") == std::string_view::npos) return;
  const Json j = parse_object(line);
  if (!j.is_object() || j.value("method", Json()) != "generate" || !j.contains("id")) return;
  std::lock_guard lock(mutex_);
  if (pending_.size() < kMaxPending) pending_.insert(j["id"].dump());
}

void StreamCounter::on_reply(std::string_view line) {
  // Every chunk of every stream passes here: the substring tests come first,
  // and the lock only for a line that may answer a request.
  const bool event = line.find("\"stream.event\"") != std::string_view::npos;
  const bool response = !event && (line.find("\"result\"") != std::string_view::npos ||
                                   line.find("\"error\"") != std::string_view::npos);
  if (!event && !response) return;
  const Json j = parse_object(line);
  if (!j.is_object()) return;
  if (event) {
    if (j.value("method", Json()) != "stream.event") return;
    const Json& params = j.contains("params") ? j["params"] : Json();
    const Json kind = params.is_object() ? params.value("event", Json()) : Json();
    if (kind != "completed" && kind != "error") return;
    // Never below zero: an end whose start this counter did not see.
    std::int64_t n = active_.load(std::memory_order_relaxed);
    while (n > 0 && !active_.compare_exchange_weak(n, n - 1)) {
    }
    return;
  }
  if (j.contains("method") || !j.contains("id")) return;
  {
    std::lock_guard lock(mutex_);
    if (pending_.erase(j["id"].dump()) == 0) return;
  }
  if (j.contains("result")) active_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace mlxs::cluster
