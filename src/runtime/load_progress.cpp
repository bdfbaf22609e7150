#include "runtime/load_progress.h"

namespace mlxs::runtime {

bool LoadProgressThrottle::admit(core::Nanos now, const model::LoadProgress& p) {
  // Every tensor bound: the figure the client waits for, never held back.
  const bool complete = p.tensors_total > 0 && p.tensors >= p.tensors_total;
  if (complete || !last_sent_ || now - *last_sent_ >= interval_) {
    last_sent_ = now;
    held_.reset();
    return true;
  }
  held_ = p;
  return false;
}

std::optional<model::LoadProgress> LoadProgressThrottle::flush() {
  std::optional<model::LoadProgress> out;
  out.swap(held_);
  return out;
}

protocol::LoadProgressNotice load_progress_notice(const std::string& model_id,
                                                  const model::LoadProgress& p) {
  protocol::LoadProgressNotice n;
  n.model_id = model_id;
  n.done_bytes = static_cast<std::int64_t>(p.bytes);
  n.total_bytes = static_cast<std::int64_t>(p.bytes_total);
  n.tensors_done = static_cast<std::int64_t>(p.tensors);
  n.tensors_total = static_cast<std::int64_t>(p.tensors_total);
  return n;
}

}  // namespace mlxs::runtime
