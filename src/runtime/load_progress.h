#pragma once
// The model.load_progress extension's pacing: a load reports every tensor it
// binds (hundreds to thousands per checkpoint), the client needs a few
// reports a second. LoadProgressThrottle lets the first report through at
// once, then at most one per interval, and a complete one always; the last
// report it held back is kept so the load's final figures are sent when the
// weights are bound, whatever the pace.

#include <optional>
#include <string>

#include "core/clock.h"
#include "model/model.h"
#include "protocol/notifications.h"

namespace mlxs::runtime {

// At most ten reports a second per load.
inline constexpr core::Nanos kLoadProgressIntervalNs = 100'000'000;

class LoadProgressThrottle {
 public:
  explicit LoadProgressThrottle(core::Nanos min_interval_ns = kLoadProgressIntervalNs)
      : interval_(min_interval_ns) {}

  // Whether `p`, reported at `now`, is to be sent now. A report not sent is
  // kept for flush() (replacing the one kept before).
  bool admit(core::Nanos now, const model::LoadProgress& p);
  // The last report held back, once; nullopt when the last one was sent.
  std::optional<model::LoadProgress> flush();

 private:
  core::Nanos interval_;
  std::optional<core::Nanos> last_sent_;
  std::optional<model::LoadProgress> held_;
};

// The notification's params for `p` of model `model_id`.
protocol::LoadProgressNotice load_progress_notice(const std::string& model_id,
                                                  const model::LoadProgress& p);

}  // namespace mlxs::runtime
