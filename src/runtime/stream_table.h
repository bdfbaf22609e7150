#pragma once
// The running streams of the connection by client-chosen id: a new stream
// may not reuse the id of a running one (compat/jsonrpc.md §4.7), and
// stream/cancel finds streams here. Thread-safe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "runtime/stream_record.h"

namespace mlxs::runtime {

class StreamTable {
 public:
  // False when a running stream already has the record's id.
  bool reserve(const std::shared_ptr<StreamRecord>& record);
  // Forgets the record (only if the id still names this record).
  void release(const StreamRecord& record);
  std::shared_ptr<StreamRecord> find(const std::string& stream_id) const;
  std::size_t size() const;
  // Kept equal to size() from now on (for readers on other threads that
  // must not take this table's lock).
  void set_gauge(std::shared_ptr<std::atomic<std::int64_t>> gauge);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<StreamRecord>> streams_;
  std::shared_ptr<std::atomic<std::int64_t>> gauge_;
};

}  // namespace mlxs::runtime
