#pragma once
// Which device a model runs on. The runtime worker, `generate` and the
// benchmarks all make their backend here, so that every way of running a
// model reaches the GPU the same way (and a build without the CUDA backend
// answers the same coded error).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "backend/cpu/thread_pool.h"
#include "core/status.h"
#include "tensor/backend.h"

namespace mlxs::runtime {

// The KV cache's element type (vLLM's --kv-cache-dtype). kAuto is the
// backend's own choice: bf16 on CUDA, f32 on the CPU (whose cache is f32
// only). CUDA's exact_f32 keeps f32 whatever is asked: parity runs compare
// against f32 references at 1e-3.
enum class KvCacheDtype { kAuto, kBf16, kFp8, kF32 };

// The values the flag and the configuration take, for messages and help.
inline constexpr std::string_view kKvCacheDtypeValues = "auto, bf16, fp8 (or fp8_e4m3), f32";

// "auto", "bf16", "fp8" or its alias "fp8_e4m3" (e4m3 is the only FP8 cache
// the backend has), "f32"; nullopt for anything else.
std::optional<KvCacheDtype> parse_kv_cache_dtype(std::string_view text);

// The canonical spelling: "auto", "bf16", "fp8", "f32".
std::string_view kv_cache_dtype_name(KvCacheDtype dtype);

// The name of the element type a backend's cache really has
// (tensor::Backend::kv_dtype): "f32", "bf16", "fp8"; what model info reports.
std::string_view kv_cache_dtype_name(tensor::DType dtype);

struct BackendChoice {
  std::string kind = "cpu";  // "cpu" or "cuda"
  int device = 0;            // CUDA device ordinal
  // CPU: 4/8-bit weights against int8-digit activations (VNNI); off keeps
  // the exact f32 quantized kernels.
  bool int8_activations = true;
  // CUDA: every linear in f32 math (parity), instead of bf16 tensor cores.
  bool exact_f32 = false;
  // The KV cache's element type; bf16 and fp8 only on CUDA
  // (check_backend_choice).
  KvCacheDtype kv_cache_dtype = KvCacheDtype::kAuto;
};

// Whether this build has the CUDA backend.
bool cuda_built();

// InvalidParams for a kind that is neither "cpu" nor "cuda", Unsupported
// for "cuda" in a build without the CUDA backend, and Unsupported naming
// kv_cache_dtype for a bf16 or fp8 cache on the CPU (its cache is f32 only:
// refused rather than silently kept f32, so a user comparing caches never
// measures the same one twice).
core::Status check_backend_choice(const BackendChoice& choice);

// The backend; `pool` serves the CPU backend (ignored for CUDA). Errors:
// those of check_backend_choice, and the CUDA runtime's (no device, bad
// ordinal) as Unsupported with the driver's words.
core::Result<std::unique_ptr<tensor::Backend>> make_backend(
    const BackendChoice& choice, std::shared_ptr<backend::cpu::ThreadPool> pool);

}  // namespace mlxs::runtime
