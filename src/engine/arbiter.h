#pragma once
// The device arbiter (the original's GPU scheduler): several engines, one per
// loaded model, share one device; before each step an engine asks for the
// device and the arbiter grants it to the most urgent asker, so a latency-
// sensitive request to model A is not stuck behind batch work on model B.
//
// Urgency: the highest priority class an engine has work in (aged batch work
// counts as interactive, see the scheduler), then how long its oldest waiting
// request has waited, then who was served least recently.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "core/clock.h"
#include "engine/sequence.h"

namespace mlxs::engine {

struct Urgency {
  Priority top = Priority::kBatch;
  core::Nanos oldest_wait = 0;
};

struct ArbiterCandidate {
  int engine = 0;
  Urgency urgency;
  std::uint64_t last_served = 0;  // grant counter when it last ran (0: never)
};

// Pure choice among waiting engines: the index into `candidates`.
std::size_t choose_engine(std::span<const ArbiterCandidate> candidates);

class DeviceArbiter {
 public:
  // Blocks until this engine holds the device.
  void acquire(int engine, Urgency urgency);
  void release(int engine);
  std::uint64_t grants() const;

 private:
  void grant_next();  // caller holds mutex_

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<ArbiterCandidate> waiting_;
  std::vector<std::uint64_t> last_served_;
  int holder_ = -1;
  int granted_ = -1;
  std::uint64_t grants_ = 0;
};

}  // namespace mlxs::engine
