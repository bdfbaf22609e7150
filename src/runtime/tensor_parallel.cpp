#include "runtime/tensor_parallel.h"

#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/thread_pool.h"
#include "runtime/cuda_options.h"
#include "tensor/in_process_group.h"
#ifdef MLXS_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_backend.h"
#endif
#ifdef MLXS_HAVE_NCCL
#include "backend/cuda/nccl_communicator.h"
#endif

namespace mlxs::runtime {

using core::ErrorCode;
using core::Result;
using core::Status;

int cuda_device_count() {
#ifdef MLXS_HAVE_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
#else
  return 0;
#endif
}

Status check_tensor_parallel(const BackendChoice& backend, int ranks, int devices) {
  if (ranks < 1 || ranks > kMaxTensorParallel) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "tensor_parallel {}: must be in [1, {}] (ranks that split one model)",
                            ranks, kMaxTensorParallel);
  }
  if (ranks == 1 || backend.kind != "cuda") return Status::ok();
#ifndef MLXS_HAVE_NCCL
  (void)devices;
  return core::make_error(ErrorCode::kUnsupported,
                          "tensor_parallel {} on CUDA needs NCCL, which this build lacks "
                          "(configure with NCCL beside the CUDA toolkit)",
                          ranks);
#else
  if (backend.device + ranks > devices) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "tensor_parallel {} from CUDA device {} needs devices {}..{}, but this "
                            "machine has {} GPU(s)",
                            ranks, backend.device, backend.device, backend.device + ranks - 1,
                            devices);
  }
  return Status::ok();
#endif
}

int threads_per_rank(int threads, int ranks) {
  const int total = threads > 0 ? threads : backend::cpu::ThreadPool::available_cpus();
  return std::max(1, total / std::max(1, ranks));
}

namespace {

// What every rank shares before any of them is built: the CPU group of
// threads, or the NCCL id rank 0 made.
struct Rendezvous {
  std::shared_ptr<tensor::InProcessGroup> threads;
#ifdef MLXS_HAVE_NCCL
  backend::cuda::NcclId nccl;
#endif
};

Result<engine::RankParts> make_rank(int rank, int ranks, const Rendezvous& meet,
                                    const std::string& dir, const BackendChoice& backend,
                                    int threads, const model::LoadOptions& load) {
  engine::RankParts p;
  if (backend.kind == "cpu") {
    auto cpu = std::make_unique<backend::cpu::CpuBackend>(
        std::make_shared<backend::cpu::ThreadPool>(threads_per_rank(threads, ranks)));
    cpu->set_int8_activations(backend.int8_activations);
    p.backend = std::move(cpu);
    p.shared = meet.threads;
    p.communicator = &meet.threads->rank(rank);
  } else {
#if defined(MLXS_HAVE_CUDA) && defined(MLXS_HAVE_NCCL)
    // Every rank's cache the same type as a single-device worker's.
    const backend::cuda::CudaOptions options = cuda_options_for(backend, backend.device + rank);
    MLXS_ASSIGN_OR_RETURN(auto cuda, backend::cuda::CudaBackend::create(options));
    MLXS_ASSIGN_OR_RETURN(p.owned_communicator,
                          backend::cuda::NcclCommunicator::create(
                              meet.nccl, rank, ranks, options.device, cuda->stream(), cuda.get()));
    p.communicator = p.owned_communicator.get();
    p.backend = std::move(cuda);
#else
    (void)ranks;
    return Status(ErrorCode::kUnsupported, "this build has no NCCL for CUDA tensor parallelism");
#endif
  }
  model::LoadOptions mine = load;
  mine.communicator = p.communicator;
  if (rank != 0) mine.progress = nullptr;  // one display: rank 0's
  MLXS_ASSIGN_OR_RETURN(p.model, model::Model::load(dir, *p.backend, mine));
  return p;
}

}  // namespace

Result<TensorParallelModel> load_tensor_parallel(const std::string& dir,
                                                 const BackendChoice& backend, int ranks,
                                                 int threads, const model::LoadOptions& load) {
  MLXS_RETURN_IF_ERROR(check_backend_choice(backend));
  MLXS_RETURN_IF_ERROR(
      check_tensor_parallel(backend, ranks, backend.kind == "cuda" ? cuda_device_count() : 0));
  Rendezvous meet;
  if (backend.kind == "cpu") {
    meet.threads = std::make_shared<tensor::InProcessGroup>(ranks);
  } else {
#ifdef MLXS_HAVE_NCCL
    MLXS_ASSIGN_OR_RETURN(meet.nccl, backend::cuda::NcclCommunicator::unique_id());
#endif
  }
  engine::TpGroupOptions options;
  // A GPU rank has a core of its own: it spins through the host's part of
  // a step instead of sleeping between steps. CPU ranks share the cores
  // with their pools' threads and sleep soon.
  if (backend.kind == "cuda") options.spin_ns = 20'000'000;
  TensorParallelModel out;
  MLXS_ASSIGN_OR_RETURN(
      out.group,
      engine::TensorParallelGroup::start(
          ranks, [&](int r) { return make_rank(r, ranks, meet, dir, backend, threads, load); },
          out.rank0, options));
  // An e4m3 cache with no scales in the checkpoint: every rank calibrates
  // its heads' together, now that none can fail to join (Model::load leaves
  // it to the group).
  if (out.rank0.model->kv_calibration_due()) {
    MLXS_RETURN_IF_ERROR(out.group->calibrate_kv_scales(
        *out.rank0.model, out.rank0.model->options().kv_calibration_tokens));
  }
  return out;
}

}  // namespace mlxs::runtime
