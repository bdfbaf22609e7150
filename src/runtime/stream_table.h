#pragma once
// The running streams of the connection by client-chosen id: a new stream
// may not reuse the id of a running one (compat/jsonrpc.md §4.7), and
// stream/cancel finds streams here. Thread-safe.

#include <cstddef>
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

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<StreamRecord>> streams_;
};

}  // namespace mlxs::runtime
