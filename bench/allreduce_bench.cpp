#include "allreduce_bench.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "core/rng.h"
#include "machine.h"
#if defined(MLXS_HAVE_CUDA) && defined(MLXS_HAVE_NCCL)
#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/nccl_communicator.h"
#endif

namespace mlxs::bench {

#if defined(MLXS_HAVE_CUDA) && defined(MLXS_HAVE_NCCL)
namespace {

using backend::cuda::cuda_status;
using core::ErrorCode;
using core::Status;
using tensor::DType;
using tensor::Tensor;

constexpr int kCallsPerGraph = 64;
constexpr const char* kWays[] = {"nccl + norm", "peer + norm", "peer fused"};
constexpr float kEps = 1e-5f;

// One rank's buffers for the widest call.
struct RankBuffers {
  float* t = nullptr;
  float* x = nullptr;
  float* w = nullptr;
  float* out = nullptr;
  ~RankBuffers() {
    cudaFree(t);
    cudaFree(x);
    cudaFree(w);
    cudaFree(out);
  }
};

Status fill(float* p, std::size_t n, std::uint64_t seed, float scale) {
  core::Xoshiro256 rng(seed);
  std::vector<float> v(n);
  for (auto& f : v) f = (rng.uniform() * 2.0f - 1.0f) * scale;
  return cuda_status(cudaMemcpy(p, v.data(), n * sizeof(float), cudaMemcpyHostToDevice), "upload");
}

// One call of `way` on [rows, cols], queued on `s`.
Status one_call(int way, backend::cuda::NcclCommunicator& comm, const RankBuffers& b, int rows,
                int cols, cudaStream_t s) {
  namespace k = backend::cuda::k;
  const Tensor t(b.t, DType::kF32, {rows, cols}, tensor::Device::kCuda);
  const backend::cuda::PeerExchange* peers = comm.peer_exchange();
  switch (way) {
    case 0:
      MLXS_RETURN_IF_ERROR(comm.all_reduce_sum_nccl(t));
      break;
    case 1:
      MLXS_RETURN_IF_ERROR(cuda_status(peers->all_reduce(b.t, rows, cols, s, false), "peer"));
      break;
    default:
      return cuda_status(
          peers->all_reduce_add_rms_norm(b.t, b.x, b.w, kEps, 0.0f, b.out, rows, cols, s, true),
          "peer fused");
  }
  return cuda_status(k::add_rms_norm(b.x, b.t, b.w, kEps, 0.0f, b.out, rows, cols, s, true),
                     "norm");
}

struct Timing {
  int rows, way;
  double us;
};

// Rank r's part: every rank captures and launches the same graphs; rank 0
// times them.
Status run_rank(int r, const AllReduceBenchOptions& o, const backend::cuda::NcclId& id,
                std::vector<Timing>* timings) {
  MLXS_RETURN_IF_ERROR(cuda_status(cudaSetDevice(r), "set device"));
  cudaStream_t s = nullptr;
  MLXS_RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream"));
  std::unique_ptr<cudaStream_t, void (*)(cudaStream_t*)> stream_guard(
      &s, [](cudaStream_t* p) { cudaStreamDestroy(*p); });
  MLXS_ASSIGN_OR_RETURN(auto comm,
                        backend::cuda::NcclCommunicator::create(id, r, o.ranks, r, s, nullptr));
  const int max_rows = *std::max_element(o.rows.begin(), o.rows.end());
  const std::size_t n = static_cast<std::size_t>(max_rows) * static_cast<std::size_t>(o.cols);
  RankBuffers b;
  for (float** p : {&b.t, &b.x, &b.out}) {
    MLXS_RETURN_IF_ERROR(cuda_status(cudaMalloc(p, n * sizeof(float)), "buffers"));
  }
  MLXS_RETURN_IF_ERROR(
      cuda_status(cudaMalloc(&b.w, static_cast<std::size_t>(o.cols) * 4), "buffers"));
  MLXS_RETURN_IF_ERROR(fill(b.t, n, 11 + static_cast<std::uint64_t>(r), 1e-3f));
  MLXS_RETURN_IF_ERROR(fill(b.x, n, 5, 1.0f));
  MLXS_RETURN_IF_ERROR(fill(b.w, static_cast<std::size_t>(o.cols), 7, 1.0f));
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (const int rows : o.rows) {
    for (int way = 0; way < 3; ++way) {
      if (way > 0 && (comm->peer_exchange() == nullptr ||
                      !backend::cuda::PeerExchange::fits(rows, o.cols, {b.t}))) {
        continue;  // alike on every rank
      }
      cudaGraph_t graph = nullptr;
      MLXS_RETURN_IF_ERROR(
          cuda_status(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture"));
      Status queued = Status::ok();
      for (int c = 0; c < kCallsPerGraph && queued.is_ok(); ++c) {
        queued = one_call(way, *comm, b, rows, o.cols, s);
      }
      const cudaError_t ended = cudaStreamEndCapture(s, &graph);
      MLXS_RETURN_IF_ERROR(queued);
      MLXS_RETURN_IF_ERROR(cuda_status(ended, "capture"));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      MLXS_RETURN_IF_ERROR(cuda_status(made, "instantiate"));
      std::vector<double> us;
      Status ran = Status::ok();
      for (int rep = -3; rep < o.reps && ran.is_ok(); ++rep) {  // 3 warm-up launches
        ran = comm->barrier();                                  // both ranks start together
        if (!ran.is_ok()) break;
        cudaEventRecord(start, s);
        cudaGraphLaunch(exec, s);
        cudaEventRecord(stop, s);
        ran = cuda_status(cudaEventSynchronize(stop), "run");
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        if (rep >= 0) us.push_back(1e3 * ms / kCallsPerGraph);
      }
      cudaGraphExecDestroy(exec);
      MLXS_RETURN_IF_ERROR(ran);
      std::sort(us.begin(), us.end());
      if (r == 0) timings->push_back({rows, way, us[us.size() / 2]});
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return cuda_status(cudaStreamSynchronize(s), "end");
}

}  // namespace
#endif

core::Result<nlohmann::json> run_allreduce_bench(const AllReduceBenchOptions& o) {
#if defined(MLXS_HAVE_CUDA) && defined(MLXS_HAVE_NCCL)
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus < o.ranks || o.ranks < 2) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "bench allreduce needs --ranks between 2 and the GPUs here ({})", gpus);
  }
  if (o.rows.empty() || o.cols < 4 || o.cols % 4 != 0) {
    return Status(ErrorCode::kInvalidParams,
                  "bench allreduce: --cols a multiple of 4, --rows given");
  }
  MLXS_ASSIGN_OR_RETURN(const backend::cuda::NcclId id,
                        backend::cuda::NcclCommunicator::unique_id());
  std::vector<Timing> timings;
  std::vector<Status> status(static_cast<std::size_t>(o.ranks));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(o.ranks));
  for (int r = 0; r < o.ranks; ++r) {
    threads.emplace_back(
        [&, r] { status[static_cast<std::size_t>(r)] = run_rank(r, o, id, &timings); });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : status) MLXS_RETURN_IF_ERROR(s);
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& t : timings) {
    runs.push_back({{"rows", t.rows}, {"way", kWays[t.way]}, {"us_per_call", t.us}});
  }
  return nlohmann::json{
      {"benchmark", "allreduce"}, {"machine", describe_machine()},     {"ranks", o.ranks},
      {"cols", o.cols},           {"calls_per_graph", kCallsPerGraph}, {"runs", runs}};
#else
  (void)o;
  return core::Status(core::ErrorCode::kUnsupported, "this build has no CUDA with NCCL");
#endif
}

std::string format_allreduce_table(const nlohmann::json& r) {
  std::string out = fmt::format(
      "all-reduce + residual add + RMSNorm over {} GPUs, [rows, {}] f32, {} calls per graph\n",
      r["ranks"].get<int>(), r["cols"].get<int>(), r["calls_per_graph"].get<int>());
  out += fmt::format("{:>5} {:<14} {:>10}\n", "rows", "way", "us/call");
  for (const auto& run : r["runs"]) {
    out += fmt::format("{:>5} {:<14} {:>10.2f}\n", run["rows"].get<int>(),
                       run["way"].get<std::string>(), run["us_per_call"].get<double>());
  }
  return out;
}

}  // namespace mlxs::bench
