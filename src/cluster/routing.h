#pragma once
// The control plane's choice of a worker for one request, as pure functions
// over the workers' states: only workers that are up and hold the model are
// candidates; with strategy smart the worker that last served the same prompt
// prefix (its KV blocks are still there to reuse) wins while it has room;
// else the least loaded wins (fewest streams in flight, ours and those other
// control planes announced, workers below their capacity first, the earlier
// worker on a tie). Capacity counts this control plane's streams only.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/cluster_config.h"
#include "protocol/messages_generate.h"

namespace mlxs::cluster {

struct Candidate {
  std::string id;
  bool ready = false;        // attached, negotiated, its models loaded
  bool holds_model = false;  // the request's model is (to be) on it
  std::size_t in_flight = 0;
  std::size_t capacity = 1;  // streams it takes before it counts as full
  std::size_t others = 0;    // streams other control planes run on it (announced)
};

struct RouteChoice {
  std::size_t index = 0;
  bool affinity_hit = false;
};

std::optional<RouteChoice> choose_worker(const std::vector<Candidate>& workers,
                                         const std::string& affinity_worker, Strategy strategy);

// A 64-bit key of the prompt's first `prefix_chars` characters (rendered
// messages or prompt text; for token prompts the first prefix_chars / 4
// tokens); 0 when the request has no prompt.
std::uint64_t prefix_key(const protocol::GenerateParams& params, std::size_t prefix_chars);

// Prefix key -> the worker that last served it, the oldest forgotten first
// once `capacity` keys are held.
class AffinityTable {
 public:
  explicit AffinityTable(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  std::string lookup(std::uint64_t key) const;
  void record(std::uint64_t key, const std::string& worker);
  std::size_t size() const { return map_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_map<std::uint64_t, std::string> map_;
  std::deque<std::uint64_t> order_;  // insertion order of map_'s keys
};

}  // namespace mlxs::cluster
