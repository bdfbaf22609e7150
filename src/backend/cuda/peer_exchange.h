#pragma once
// The all-reduce of decode-sized partial sums between the GPUs of one
// process, without NCCL in the step (kernels_peer.cu). Tensor parallelism
// runs its ranks as threads of one process, so every rank's buffers are
// plain device pointers the others can write through peer access (NVLink on
// the H100 hosts). At batch 1 an 8B model's step makes 64 all-reduces of
// 16 KB each: latency, not bandwidth. One small kernel per all-reduce that
// pushes the rows, raises a flag and waits for the others' flags replaces
// NCCL's launch and protocol, joins the decode kernels' early-launch chain,
// and fuses the residual add and the next RMSNorm that follow it.
//
// NCCL stays the group's communicator: it forms the group (the pointers
// are handed round with an all-gather), carries everything larger than
// this exchange's slots (prefill), the logits' all-gather and the sampled
// ids. The exchange is used only where every rank can reach every other
// (one process, peer access both ways), decided alike on all ranks.
// MLXS_TP_P2P=0 leaves it out (A/B runs).

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>

#include "backend/cuda/cuda_kernels.h"
#include "core/status.h"

namespace mlxs::backend::cuda {

class PeerExchange {
 public:
  // all[k * mine.size() + i] = rank k's mine[i]: a collective every rank
  // calls with the same count (NCCL's all-gather, or threads in a test).
  using Gather = std::function<core::Status(std::span<const std::uint64_t> mine,
                                            std::span<std::uint64_t> all)>;

  // Every rank calls it at the same time, on its own thread with `device`
  // current. Null (and no error) where the group cannot use it: several
  // processes, a pair of GPUs without peer access, one rank, or
  // MLXS_TP_P2P=0; every rank then gets null.
  static core::Result<std::unique_ptr<PeerExchange>> create(int rank, int world, int device,
                                                            const Gather& gather);
  ~PeerExchange();
  PeerExchange(const PeerExchange&) = delete;
  PeerExchange& operator=(const PeerExchange&) = delete;

  // Whether a [rows, cols] f32 all-reduce over these pointers goes here
  // (the same answer on every rank for the same shapes).
  static bool fits(std::int64_t rows, std::int64_t cols, std::initializer_list<const void*> ptrs);

  // t = the sum over the ranks (in place), queued on `stream`.
  cudaError_t all_reduce(float* t, int rows, int cols, cudaStream_t stream, bool early) const;
  // x += the sum over the ranks of t; out = rms_norm(x) · (w + offset).
  cudaError_t all_reduce_add_rms_norm(float* t, float* x, const float* w, float eps, float offset,
                                      float* out, int rows, int cols, cudaStream_t stream,
                                      bool early) const;

  // Kernels of this rank waiting for a peer give up (the group failed);
  // every later call is the caller's to refuse (aborted()).
  void abort();
  bool aborted() const { return *abort_word_ != 0; }

 private:
  PeerExchange() = default;

  k::PeerLinks links_{};
  int device_ = 0;
  float* inbox_ = nullptr;
  unsigned* flags_ = nullptr;
  unsigned* counters_ = nullptr;
  volatile int* abort_word_ = nullptr;  // host memory mapped into the device
};

}  // namespace mlxs::backend::cuda
