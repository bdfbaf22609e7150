#include "backend/cuda/peer_exchange.h"

#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace mlxs::backend::cuda {

using core::ErrorCode;
using core::Result;
using core::Status;

namespace {

bool turned_off() {
  const char* v = std::getenv("MLXS_TP_P2P");
  return v != nullptr && std::strcmp(v, "0") == 0;
}

constexpr std::size_t kInboxFloats = 2 * static_cast<std::size_t>(k::kPeerSlotFloats);  // per rank
constexpr std::size_t kFlagWords = static_cast<std::size_t>(k::kPeerMaxRows);           // per rank

// What each rank hands the others.
enum Published : std::size_t { kPid, kDevice, kInbox, kFlags, kPublished };

}  // namespace

bool PeerExchange::fits(std::int64_t rows, std::int64_t cols,
                        std::initializer_list<const void*> ptrs) {
  if (rows < 1 || rows > k::kPeerMaxRows || cols < 4 || cols % 4 != 0 || cols > k::kPeerMaxCols ||
      rows * cols > k::kPeerSlotFloats) {
    return false;
  }
  for (const void* p : ptrs) {
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return false;
  }
  return true;
}

Result<std::unique_ptr<PeerExchange>> PeerExchange::create(int rank, int world, int device,
                                                           const Gather& gather) {
  if (world < 2 || world > k::kPeerMaxRanks || turned_off()) return std::unique_ptr<PeerExchange>();
  if (rank < 0 || rank >= world) {
    return Status(ErrorCode::kInvalidParams,
                  fmt::format("peer exchange rank {} of {} does not exist", rank, world));
  }
  auto out = std::unique_ptr<PeerExchange>(new PeerExchange());
  PeerExchange& e = *out;
  e.device_ = device;
  const auto slots = static_cast<std::size_t>(world);
  // Every rank takes part in both gathers below whatever happens here
  // (they are collectives): a rank whose setup fails votes no, and the
  // group stays on NCCL, where a rank returning early would leave the others
  // waiting in the gather.
  bool ready = cudaMalloc(reinterpret_cast<void**>(&e.inbox_),
                          kInboxFloats * slots * sizeof(float)) == cudaSuccess &&
               cudaMalloc(reinterpret_cast<void**>(&e.flags_),
                          kFlagWords * slots * sizeof(unsigned)) == cudaSuccess &&
               cudaMalloc(reinterpret_cast<void**>(&e.counters_), kFlagWords * sizeof(unsigned)) ==
                   cudaSuccess &&
               cudaMemset(e.flags_, 0, kFlagWords * slots * sizeof(unsigned)) == cudaSuccess &&
               cudaMemset(e.counters_, 0, kFlagWords * sizeof(unsigned)) == cudaSuccess;
  void* word = nullptr;
  void* word_dev = nullptr;
  ready = ready && cudaHostAlloc(&word, sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable) ==
                       cudaSuccess;
  if (ready) {
    e.abort_word_ = static_cast<volatile int*>(word);
    *e.abort_word_ = 0;
    ready = cudaHostGetDevicePointer(&word_dev, word, 0) == cudaSuccess &&
            cudaDeviceSynchronize() == cudaSuccess;
  }
  if (!ready) cudaGetLastError();  // cleared: the exchange is just not used

  std::uint64_t mine[kPublished] = {};
  mine[kPid] = static_cast<std::uint64_t>(getpid());
  mine[kDevice] = static_cast<std::uint64_t>(device);
  mine[kInbox] = reinterpret_cast<std::uintptr_t>(e.inbox_);
  mine[kFlags] = reinterpret_cast<std::uintptr_t>(e.flags_);
  std::vector<std::uint64_t> all(kPublished * slots);
  MLXS_RETURN_IF_ERROR(gather(mine, all));

  // Usable from here: one process, and this device reaches every other,
  // peer access enabled before the vote (a rank that cannot enable it votes
  // no rather than failing alone while the others go on).
  bool usable = ready;
  for (std::size_t q = 0; q < slots; ++q) {
    const std::uint64_t* theirs = &all[q * kPublished];
    if (theirs[kPid] != mine[kPid]) usable = false;
    const int peer = static_cast<int>(theirs[kDevice]);
    if (static_cast<int>(q) == rank || !usable) continue;
    int can = 0;
    if (peer == device || cudaDeviceCanAccessPeer(&can, device, peer) != cudaSuccess || can == 0) {
      usable = false;
    }
  }
  for (std::size_t q = 0; q < slots && usable; ++q) {
    if (static_cast<int>(q) == rank) continue;
    const cudaError_t err =
        cudaDeviceEnablePeerAccess(static_cast<int>(all[q * kPublished + kDevice]), 0);
    if (err != cudaSuccess) {
      cudaGetLastError();  // clear it: already enabled (an earlier group) or refused
      usable = err == cudaErrorPeerAccessAlreadyEnabled;
    }
  }
  // Usable everywhere, or nowhere.
  const std::uint64_t vote[1] = {usable ? 1U : 0U};
  std::vector<std::uint64_t> votes(slots);
  MLXS_RETURN_IF_ERROR(gather(vote, votes));
  for (const std::uint64_t v : votes) usable = usable && v == 1;
  if (!usable) return std::unique_ptr<PeerExchange>();
  e.links_.rank = rank;
  e.links_.world = world;
  e.links_.counters = e.counters_;
  e.links_.abort = static_cast<const volatile int*>(word_dev);
  // The other ranks' device pointers, as they handed them over.
  for (std::size_t q = 0; q < slots; ++q) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    e.links_.inbox[q] = reinterpret_cast<float*>(all[q * kPublished + kInbox]);
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    e.links_.flags[q] = reinterpret_cast<unsigned*>(all[q * kPublished + kFlags]);
  }
  return out;
}

PeerExchange::~PeerExchange() {
  int previous = device_;
  cudaGetDevice(&previous);
  cudaSetDevice(device_);
  cudaFree(inbox_);
  cudaFree(flags_);
  cudaFree(counters_);
  if (abort_word_ != nullptr) cudaFreeHost(const_cast<int*>(abort_word_));
  cudaSetDevice(previous);
}

cudaError_t PeerExchange::all_reduce(float* t, int rows, int cols, cudaStream_t stream,
                                     bool early) const {
  return k::peer_all_reduce(links_, t, nullptr, nullptr, 0.0f, 0.0f, nullptr, rows, cols, stream,
                            early);
}

cudaError_t PeerExchange::all_reduce_add_rms_norm(float* t, float* x, const float* w, float eps,
                                                  float offset, float* out, int rows, int cols,
                                                  cudaStream_t stream, bool early) const {
  return k::peer_all_reduce(links_, t, x, w, eps, offset, out, rows, cols, stream, early);
}

void PeerExchange::abort() {
  *abort_word_ = 1;
}

}  // namespace mlxs::backend::cuda
