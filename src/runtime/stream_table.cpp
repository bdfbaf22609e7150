#include "runtime/stream_table.h"

namespace mlxs::runtime {

bool StreamTable::reserve(const std::shared_ptr<StreamRecord>& record) {
  std::lock_guard lock(mutex_);
  const bool added = streams_.emplace(record->stream_id, record).second;
  if (gauge_) gauge_->store(static_cast<std::int64_t>(streams_.size()), std::memory_order_relaxed);
  return added;
}

void StreamTable::release(const StreamRecord& record) {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(record.stream_id);
  if (it != streams_.end() && it->second.get() == &record) streams_.erase(it);
  if (gauge_) gauge_->store(static_cast<std::int64_t>(streams_.size()), std::memory_order_relaxed);
}

std::shared_ptr<StreamRecord> StreamTable::find(const std::string& stream_id) const {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second;
}

void StreamTable::set_gauge(std::shared_ptr<std::atomic<std::int64_t>> gauge) {
  std::lock_guard lock(mutex_);
  gauge_ = std::move(gauge);
  if (gauge_) gauge_->store(static_cast<std::int64_t>(streams_.size()), std::memory_order_relaxed);
}

std::size_t StreamTable::size() const {
  std::lock_guard lock(mutex_);
  return streams_.size();
}

}  // namespace mlxs::runtime
