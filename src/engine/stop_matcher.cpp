#include "engine/stop_matcher.h"

#include <algorithm>

namespace mlxs::engine {

StopMatcher::StopMatcher(std::span<const std::string> stops) : stops_(stops.begin(), stops.end()) {}

std::string StopMatcher::feed(std::string_view text, bool* stopped) {
  *stopped = false;
  if (stops_.empty()) return std::string(text);
  held_.append(text);
  std::size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    *stopped = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  std::size_t hold = 0;
  for (const auto& s : stops_) {
    const std::size_t max_k = std::min(held_.size(), s.size() - 1);
    for (std::size_t k = max_k; k > hold; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace mlxs::engine
