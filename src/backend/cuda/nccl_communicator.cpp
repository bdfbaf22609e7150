#include "backend/cuda/nccl_communicator.h"

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_status.h"

#include <fmt/format.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>

namespace mlxs::backend::cuda {

using core::ErrorCode;
using core::Result;
using core::Status;
using tensor::Tensor;

struct NcclCommunicator::Comm {
  ncclComm_t handle = nullptr;
};

namespace {

// A peer that died or a broken link is the group failing (WorkerCrashed);
// anything else is a misuse or a setup problem.
Status nccl_status(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return Status::ok();
  const bool lost = r == ncclRemoteError || r == ncclSystemError;
  return Status(lost ? ErrorCode::kWorkerCrashed : ErrorCode::kRuntimeError,
                fmt::format("NCCL {}: {}", what, ncclGetErrorString(r)));
}

bool device_f32(const Tensor& t) {
  return t.dtype == tensor::DType::kF32 && t.device == tensor::Device::kCuda;
}

}  // namespace

// The project's NCCL settings, unless the user set them: NVLink multicast
// off (../shared/GPU.md), and every connection made in ncclCommInitRank
// rather than at its first collective (NCCL_RUNTIME_CONNECT=0). A serving
// worker sizes its KV cache from the memory free after loading; with lazy
// connections NCCL's buffers were allocated at the warm-up step, after the
// cache had taken 90% of the card, and the first all-reduce failed with an
// "internal error" (2 H200s, 8B at TP=2, --gpu-memory-fraction 0.9).
void set_nccl_defaults() {
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
  setenv("NCCL_RUNTIME_CONNECT", "0", /*overwrite=*/0);
}

Result<NcclId> NcclCommunicator::unique_id() {
  set_nccl_defaults();
  ncclUniqueId id;
  MLXS_RETURN_IF_ERROR(nccl_status(ncclGetUniqueId(&id), "unique id"));
  static_assert(sizeof(id.internal) == sizeof(NcclId::bytes));
  NcclId out;
  std::memcpy(out.bytes.data(), id.internal, sizeof(id.internal));
  return out;
}

Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(const NcclId& id, int rank,
                                                                   int world, int device,
                                                                   cudaStream_t stream,
                                                                   CudaBackend* graphs) {
  if (world < 1 || rank < 0 || rank >= world) {
    return Status(ErrorCode::kInvalidParams,
                  fmt::format("tensor-parallel rank {} of {} does not exist", rank, world));
  }
  set_nccl_defaults();
  MLXS_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device), "set device"));
  ncclUniqueId nid;
  std::memcpy(nid.internal, id.bytes.data(), sizeof(nid.internal));
  auto comm = std::make_unique<Comm>();
  MLXS_RETURN_IF_ERROR(nccl_status(ncclCommInitRank(&comm->handle, world, nid, rank), "init"));
  void* flag = nullptr;
  if (const Status s = cuda_status(cudaMalloc(&flag, sizeof(float)), "barrier flag"); !s.is_ok()) {
    ncclCommDestroy(comm->handle);
    return s;
  }
  auto out = std::unique_ptr<NcclCommunicator>(new NcclCommunicator(
      std::move(comm), rank, world, device, stream, static_cast<float*>(flag)));
  out->graphs_ = graphs;
  if (graphs != nullptr) graphs->on_destroy([raw = out.get()] { raw->graphs_ = nullptr; });
  NcclCommunicator& self = *out;
  MLXS_ASSIGN_OR_RETURN(out->peers_,
                        PeerExchange::create(rank, world, device, [&self](auto mine, auto all) {
                          return self.gather_words(mine, all);
                        }));
  if (graphs != nullptr) graphs->attach_peers(out->peers_.get());
  return out;
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<Comm> comm, int rank, int world, int device,
                                   cudaStream_t stream, float* flag)
    : comm_(std::move(comm)),
      rank_(rank),
      world_(world),
      device_(device),
      stream_(stream),
      flag_(flag) {}

NcclCommunicator::~NcclCommunicator() {
  int previous = device_;
  cudaGetDevice(&previous);  // the destroying thread keeps its device
  cudaSetDevice(device_);
  if (graphs_ != nullptr) {
    graphs_->drop_graphs();  // NCCL's destroy waits for every graph that holds this communicator
    graphs_->on_destroy(nullptr);
    graphs_->attach_peers(nullptr);
    // No kernel of this rank still reaches the exchange. The stream is the
    // backend's: a backend gone first has drained and destroyed it.
    cudaStreamSynchronize(stream_);
  }
  peers_.reset();
  // Every rank destroys its communicator at the same time (an intra-node
  // collective): the group ends all ranks together.
  if (aborter_.joinable()) {
    aborter_.join();  // returns once no graph holds the communicator
  } else if (!aborted_.load()) {
    ncclCommDestroy(comm_->handle);
  }
  cudaFree(flag_);
  cudaSetDevice(previous);
}

// Setup only (the peer exchange's pointers): an all-gather through a
// scratch buffer, waited for.
Status NcclCommunicator::gather_words(std::span<const std::uint64_t> mine,
                                      std::span<std::uint64_t> all) {
  const std::size_t count = mine.size();
  if (all.size() != count * static_cast<std::size_t>(world_)) {
    return Status(ErrorCode::kInvalidParams, "gather_words: world * words");
  }
  void* scratch = nullptr;
  MLXS_RETURN_IF_ERROR(cuda_status(cudaMalloc(&scratch, all.size_bytes()), "gather scratch"));
  auto* words = static_cast<std::uint64_t*>(scratch);
  Status s = cuda_status(cudaMemcpy(words + count * static_cast<std::size_t>(rank_), mine.data(),
                                    mine.size_bytes(), cudaMemcpyHostToDevice),
                         "gather upload");
  if (s.is_ok()) {
    s = nccl_status(ncclAllGather(words + count * static_cast<std::size_t>(rank_), words, count,
                                  ncclUint64, comm_->handle, stream_),
                    "all-gather");
  }
  if (s.is_ok()) s = cuda_status(cudaStreamSynchronize(stream_), "gather");
  if (s.is_ok()) {
    s = cuda_status(cudaMemcpy(all.data(), words, all.size_bytes(), cudaMemcpyDeviceToHost),
                    "gather download");
  }
  cudaFree(scratch);
  return s;
}

Status NcclCommunicator::check_live() const {
  if (aborted_.load()) {
    return Status(ErrorCode::kWorkerCrashed, "the tensor-parallel group was aborted");
  }
  return Status::ok();
}

bool NcclCommunicator::replaying() const {
  return graphs_ != nullptr && graphs_->replaying_step();
}

Status NcclCommunicator::all_reduce_sum(Tensor x) {
  return all_reduce(x, /*peer_exchange=*/true);
}

Status NcclCommunicator::all_reduce_sum_nccl(Tensor x) {
  return all_reduce(x, /*peer_exchange=*/false);
}

Status NcclCommunicator::all_reduce(Tensor x, bool peer_exchange) {
  MLXS_RETURN_IF_ERROR(check_live());
  if (replaying()) return Status::ok();  // the step's graph holds it
  if (!device_f32(x)) {
    return Status(ErrorCode::kInvalidParams, "all_reduce_sum takes f32 device tensors");
  }
  if (peer_exchange && peers_ != nullptr && x.ndim == 2 &&
      PeerExchange::fits(x.rows(), x.cols(), {x.data})) {
    return cuda_status(peers_->all_reduce(x.as<float>(), static_cast<int>(x.rows()),
                                          static_cast<int>(x.cols()), stream_, /*early=*/false),
                       "peer all-reduce");
  }
  return nccl_status(ncclAllReduce(x.data, x.data, static_cast<std::size_t>(x.numel()), ncclFloat32,
                                   ncclSum, comm_->handle, stream_),
                     "all-reduce");
}

// One all-gather per row lands each rank's block of that row at its column
// offset (NCCL places rank k's part at k * count), so no scratch or
// transpose is needed; the group makes them one launch.
Status NcclCommunicator::all_gather_columns(const Tensor& local, Tensor out) {
  MLXS_RETURN_IF_ERROR(check_live());
  if (!device_f32(local) || !device_f32(out) || out.rows() != local.rows() ||
      out.cols() != local.cols() * world_) {
    return Status(ErrorCode::kInvalidParams,
                  "all_gather_columns takes f32 device tensors [rows, cols] -> "
                  "[rows, world * cols]");
  }
  if (replaying()) return Status::ok();
  const auto cols = static_cast<std::size_t>(local.cols());
  const auto* src = local.as<const float>();
  auto* dst = out.as<float>();
  MLXS_RETURN_IF_ERROR(nccl_status(ncclGroupStart(), "group start"));
  ncclResult_t first = ncclSuccess;
  for (std::int64_t r = 0; r < local.rows(); ++r) {
    const ncclResult_t e =
        ncclAllGather(src + static_cast<std::size_t>(r) * cols,
                      dst + static_cast<std::size_t>(r) * cols * static_cast<std::size_t>(world_),
                      cols, ncclFloat32, comm_->handle, stream_);
    if (first == ncclSuccess) first = e;
  }
  const ncclResult_t end = ncclGroupEnd();
  MLXS_RETURN_IF_ERROR(nccl_status(first, "all-gather"));
  return nccl_status(end, "group end");
}

Status NcclCommunicator::broadcast_from_first(Tensor x) {
  MLXS_RETURN_IF_ERROR(check_live());
  if (replaying()) return Status::ok();
  if (x.dtype != tensor::DType::kI32 || x.device != tensor::Device::kCuda) {
    return Status(ErrorCode::kInvalidParams, "broadcast_from_first takes i32 device tensors");
  }
  return nccl_status(ncclBroadcast(x.data, x.data, static_cast<std::size_t>(x.numel()), ncclInt32,
                                   /*root=*/0, comm_->handle, stream_),
                     "broadcast");
}

Status NcclCommunicator::barrier() {
  MLXS_RETURN_IF_ERROR(check_live());
  MLXS_RETURN_IF_ERROR(nccl_status(
      ncclAllReduce(flag_, flag_, 1, ncclFloat32, ncclSum, comm_->handle, stream_), "barrier"));
  MLXS_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_), "barrier"));
  ncclResult_t async = ncclSuccess;
  MLXS_RETURN_IF_ERROR(nccl_status(ncclCommGetAsyncError(comm_->handle, &async), "async error"));
  return nccl_status(async, "barrier");
}

void NcclCommunicator::abort() {
  if (aborted_.exchange(true)) return;
  if (peers_ != nullptr) peers_->abort();  // this rank's waiting kernels give up
  // ncclCommAbort raises the flag the group's kernels poll at once, then
  // waits for every graph holding the communicator to die before it frees
  // it (NCCL 2.26 on). On its own thread, so the caller (often another
  // rank's thread, on the failure path) is not held until the teardown
  // drops the graphs; the destructor joins it.
  aborter_ = std::thread([handle = comm_->handle, device = device_] {
    cudaSetDevice(device);
    ncclCommAbort(handle);
  });
}

}  // namespace mlxs::backend::cuda
