#pragma once
// tensor::Communicator between the GPUs of one host over NCCL: all-reduce
// and all-gather queued on the rank's backend stream (so they order with its
// kernels and can be captured in its CUDA graphs), the group formed with
// ncclCommInitRank from one unique id that rank 0 makes and hands to the
// others (threads of one process, or processes). NVLink multicast (NVLS) is
// kept off: on the shared GPU hosts it can take the GPUs out of service
// (../shared/GPU.md). Built only when NCCL is found beside the CUDA toolkit.

#include <cuda_runtime_api.h>

#include <array>
#include <atomic>
#include <memory>
#include <thread>

#include "backend/cuda/peer_exchange.h"
#include "core/status.h"
#include "tensor/communicator.h"

namespace mlxs::backend::cuda {

class CudaBackend;

// ncclUniqueId as plain bytes, to pass between ranks.
struct NcclId {
  std::array<char, 128> bytes{};
};

// Sets NCCL_NVLS_ENABLE=0 and NCCL_RUNTIME_CONNECT=0 unless the environment
// already sets them (a user's value wins). create() calls it; a process that
// starts NCCL some other way calls it before.
void set_nccl_defaults();

class NcclCommunicator final : public tensor::Communicator {
 public:
  // A fresh id for a new group (rank 0 calls it once).
  static core::Result<NcclId> unique_id();
  // Joins group `id` as `rank` of `world` on CUDA device `device`, queueing
  // its collectives on `stream` (the rank's backend stream). Every rank calls
  // it at the same time; it returns once all have joined. With `graphs` (the
  // backend owning `stream`), a collective queues nothing while that backend
  // replays a captured decode graph: the graph holds it already; and the
  // communicator drops those graphs before it is destroyed (NCCL waits for
  // them), unless the backend went first.
  static core::Result<std::unique_ptr<NcclCommunicator>> create(const NcclId& id, int rank,
                                                                int world, int device,
                                                                cudaStream_t stream,
                                                                CudaBackend* graphs = nullptr);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  core::Status all_reduce_sum(tensor::Tensor x) override;
  core::Status all_gather_columns(const tensor::Tensor& local, tensor::Tensor out) override;
  core::Status broadcast_from_first(tensor::Tensor x) override;
  core::Status barrier() override;
  void abort() override;

  // What all_reduce_sum takes where the peer exchange does not fit, for
  // `bench allreduce` to time both.
  core::Status all_reduce_sum_nccl(tensor::Tensor x);
  // Null where the group cannot use one (see PeerExchange::create).
  const PeerExchange* peer_exchange() const { return peers_.get(); }

 private:
  struct Comm;
  NcclCommunicator(std::unique_ptr<Comm> comm, int rank, int world, int device, cudaStream_t stream,
                   float* flag);
  core::Status check_live() const;
  bool replaying() const;
  // all_reduce_sum, through the peer exchange where it fits if asked.
  core::Status all_reduce(tensor::Tensor x, bool peer_exchange);
  core::Status gather_words(std::span<const std::uint64_t> mine, std::span<std::uint64_t> all);

  std::unique_ptr<Comm> comm_;
  int rank_, world_, device_;
  cudaStream_t stream_;
  float* flag_;                    // one device float the barrier reduces
  CudaBackend* graphs_ = nullptr;  // null once that backend is gone
  std::atomic<bool> aborted_{false};
  std::thread aborter_;  // runs ncclCommAbort (abort() says why on a thread)
  // Decode-sized all-reduces between the GPUs of this process (null where
  // the group cannot use it); the backend's fused norm uses it too.
  std::unique_ptr<PeerExchange> peers_;
};

}  // namespace mlxs::backend::cuda
