#pragma once
// Stop strings matched across token boundaries and never emitted: text that
// could still turn out to be the start of a stop string is held back until
// the next piece decides.

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlxs::engine {

class StopMatcher {
 public:
  StopMatcher() = default;
  explicit StopMatcher(std::span<const std::string> stops);

  bool active() const { return !stops_.empty(); }
  // Adds newly decoded text. Returns the text that is now safe to emit; when a
  // stop string completes, *stopped is set and the returned text ends just
  // before it (the stop string and anything after it are dropped).
  std::string feed(std::string_view text, bool* stopped);
  // The end of generation: whatever was held back is emitted.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
};

}  // namespace mlxs::engine
