#pragma once
// A tensor-parallel group of ranks that are threads of one process, each with
// its own backend on host memory: the collectives are plain loads and stores
// between the ranks' buffers, ordered by a reusable barrier. It is a complete
// collective (CPU tensor parallelism, and the group the CPU tests shard models
// over in place of NCCL), not a stand-in: every rank ends with the same bits,
// summed in rank order. Nothing is allocated after construction.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "tensor/communicator.h"

namespace mlxs::tensor {

class InProcessGroup {
 public:
  explicit InProcessGroup(int world_size);
  ~InProcessGroup();
  InProcessGroup(const InProcessGroup&) = delete;
  InProcessGroup& operator=(const InProcessGroup&) = delete;

  int world_size() const { return world_; }
  // Rank r's communicator, for one thread at a time; lives as long as the
  // group.
  Communicator& rank(int r);
  // Communicator::abort of any rank: wakes every waiting rank.
  void abort();

 private:
  class Rank;
  // What a rank shows the others during one collective.
  struct Slot {
    void* data = nullptr;
    std::int64_t rows = 0, cols = 0;
  };
  // Reusable: the ranks pass it once per phase of every collective.
  class Barrier {
   public:
    explicit Barrier(int count) : count_(count) {}
    // False once the group was aborted (the phase may not have completed).
    bool arrive_and_wait();
    void abort();

   private:
    std::mutex mutex_;
    std::condition_variable cv_;
    const int count_;
    int arrived_ = 0;
    std::uint64_t generation_ = 0;
    bool aborted_ = false;
  };

  const int world_;
  Barrier barrier_;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<Rank>> ranks_;
};

}  // namespace mlxs::tensor
