#pragma once
// Time behind an interface so state machines and the scheduler can be driven
// by a fake clock in tests.

#include <chrono>
#include <cstdint>

namespace mlxs::core {

using Nanos = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Nanos now_ns() const = 0;
};

class SteadyClock final : public Clock {
 public:
  Nanos now_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static const SteadyClock& instance() {
    static const SteadyClock clock;
    return clock;
  }
};

class FakeClock final : public Clock {
 public:
  Nanos now_ns() const override { return now_; }
  void advance_ns(Nanos delta) { now_ += delta; }
  void set_ns(Nanos now) { now_ = now; }

 private:
  Nanos now_ = 0;
};

inline double seconds_between(Nanos start, Nanos end) {
  return static_cast<double>(end - start) * 1e-9;
}

}  // namespace mlxs::core
