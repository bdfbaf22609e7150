#include "tensor/in_process_group.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace mlxs::tensor {

using core::ErrorCode;
using core::Status;

namespace {

Status aborted() {
  return Status(ErrorCode::kWorkerCrashed, "the tensor-parallel group was aborted");
}

// Rank r's share [begin, end) of n elements.
std::pair<std::int64_t, std::int64_t> share(std::int64_t n, int r, int world) {
  return {n * r / world, n * (r + 1) / world};
}

}  // namespace

bool InProcessGroup::Barrier::arrive_and_wait() {
  std::unique_lock lock(mutex_);
  if (aborted_) return false;
  const std::uint64_t generation = generation_;
  if (++arrived_ == count_) {
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return true;
  }
  cv_.wait(lock, [&] { return generation_ != generation || aborted_; });
  return generation_ != generation;
}

void InProcessGroup::Barrier::abort() {
  const std::lock_guard lock(mutex_);
  aborted_ = true;
  cv_.notify_all();
}

class InProcessGroup::Rank final : public Communicator {
 public:
  Rank(InProcessGroup& group, int rank) : group_(group), rank_(rank) {}

  int rank() const override { return rank_; }
  int world_size() const override { return group_.world_; }

  // Reduce-scatter then all-gather in place: rank r sums its share of the
  // elements over every rank's buffer into its own buffer, then copies the
  // other ranks' summed shares from theirs. Shares are disjoint, so no
  // scratch is needed; the third barrier keeps the buffers alive and
  // unchanged until every rank has copied from them.
  Status all_reduce_sum(Tensor x) override {
    if (x.dtype != DType::kF32 || x.device != Device::kCpu) {
      return Status(ErrorCode::kInvalidParams, "all_reduce_sum takes f32 host tensors");
    }
    MLXS_RETURN_IF_ERROR(publish({x.data, 1, x.numel()}));
    const int world = group_.world_;
    const std::int64_t n = x.numel();
    auto* own = x.as<float>();
    const auto [begin, end] = share(n, rank_, world);
    for (std::int64_t i = begin; i < end; ++i) {
      float sum = static_cast<const float*>(group_.slots_[0].data)[i];
      for (int s = 1; s < world; ++s) sum += static_cast<const float*>(group_.slots_[s].data)[i];
      own[i] = sum;
    }
    if (!group_.barrier_.arrive_and_wait()) return aborted();
    for (int s = 0; s < world; ++s) {
      if (s == rank_) continue;
      const auto [b, e] = share(n, s, world);
      if (e > b) {
        std::memcpy(own + b, static_cast<const float*>(group_.slots_[s].data) + b,
                    static_cast<std::size_t>(e - b) * sizeof(float));
      }
    }
    if (!group_.barrier_.arrive_and_wait()) return aborted();
    return Status::ok();
  }

  Status all_gather_columns(const Tensor& local, Tensor out) override {
    const int world = group_.world_;
    if (local.dtype != DType::kF32 || out.dtype != DType::kF32 || local.device != Device::kCpu ||
        out.device != Device::kCpu || out.rows() != local.rows() ||
        out.cols() != local.cols() * world) {
      return Status(ErrorCode::kInvalidParams,
                    "all_gather_columns takes f32 host tensors [rows, cols] -> "
                    "[rows, world * cols]");
    }
    MLXS_RETURN_IF_ERROR(publish({local.data, local.rows(), local.cols()}));
    const std::int64_t rows = local.rows(), cols = local.cols();
    auto* dst = out.as<float>();
    for (int s = 0; s < world; ++s) {
      const auto* src = static_cast<const float*>(group_.slots_[s].data);
      for (std::int64_t r = 0; r < rows; ++r) {
        std::memcpy(dst + r * cols * world + s * cols, src + r * cols,
                    static_cast<std::size_t>(cols) * sizeof(float));
      }
    }
    if (!group_.barrier_.arrive_and_wait()) return aborted();
    return Status::ok();
  }

  Status broadcast_from_first(Tensor x) override {
    if (x.dtype != DType::kI32 || x.device != Device::kCpu) {
      return Status(ErrorCode::kInvalidParams, "broadcast_from_first takes i32 host tensors");
    }
    MLXS_RETURN_IF_ERROR(publish({x.data, 1, x.numel()}));
    if (rank_ != 0 && x.numel() > 0) {
      std::memcpy(x.data, group_.slots_[0].data, static_cast<std::size_t>(x.numel()) * 4);
    }
    // Rank 0's buffer stays unchanged until every rank has copied it.
    if (!group_.barrier_.arrive_and_wait()) return aborted();
    return Status::ok();
  }

  Status barrier() override { return group_.barrier_.arrive_and_wait() ? Status::ok() : aborted(); }

  void abort() override { group_.abort(); }

 private:
  // Shows this rank's buffer to the others and waits for theirs; every rank
  // sees the same slots, so a rank whose shape differs makes all of them
  // return the same InvalidParams (after one more barrier, so no rank
  // overwrites its slot while another still reads it).
  Status publish(Slot slot) {
    group_.slots_[static_cast<std::size_t>(rank_)] = slot;
    if (!group_.barrier_.arrive_and_wait()) return aborted();
    for (const Slot& s : group_.slots_) {
      if (s.rows != slot.rows || s.cols != slot.cols) {
        if (!group_.barrier_.arrive_and_wait()) return aborted();
        return Status(ErrorCode::kInvalidParams,
                      fmt::format("the ranks of a collective passed tensors of different shapes "
                                  "(rank {}: [{}, {}])",
                                  rank_, slot.rows, slot.cols));
      }
    }
    return Status::ok();
  }

  InProcessGroup& group_;
  const int rank_;
};

InProcessGroup::InProcessGroup(int world_size)
    : world_(std::max(world_size, 1)), barrier_(world_), slots_(static_cast<std::size_t>(world_)) {
  for (int r = 0; r < world_; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
}

InProcessGroup::~InProcessGroup() = default;

Communicator& InProcessGroup::rank(int r) {
  assert(r >= 0 && r < world_);
  return *ranks_[static_cast<std::size_t>(r)];
}

void InProcessGroup::abort() {
  barrier_.abort();
}

}  // namespace mlxs::tensor
