// kv_cache_dtype (--kv-cache-dtype, workers.kv_cache_dtype): its names, the
// CPU backend's refusal of a bf16 or fp8 cache, and the CUDA backend's
// options every runtime path builds from it (cuda_options_for: the worker,
// each tensor-parallel rank, generate and bench decode). CudaOptions is a
// plain struct, so the translation is checked here without a GPU.
#include <gtest/gtest.h>

#include "runtime/backend_choice.h"
#include "runtime/cuda_options.h"
#include "tensor/dtype.h"

namespace mlxs::runtime {
namespace {

using core::ErrorCode;

TEST(KvCacheDtype, NamesAndTheAlias) {
  EXPECT_EQ(parse_kv_cache_dtype("auto"), KvCacheDtype::kAuto);
  EXPECT_EQ(parse_kv_cache_dtype("bf16"), KvCacheDtype::kBf16);
  EXPECT_EQ(parse_kv_cache_dtype("fp8"), KvCacheDtype::kFp8);
  EXPECT_EQ(parse_kv_cache_dtype("fp8_e4m3"), KvCacheDtype::kFp8) << "vLLM's alias";
  EXPECT_EQ(parse_kv_cache_dtype("f32"), KvCacheDtype::kF32);
  for (const char* bad : {"", "AUTO", "fp16", "float32", "fp8_e5m2", "e4m3", "bf16 "}) {
    EXPECT_FALSE(parse_kv_cache_dtype(bad).has_value()) << bad;
  }
  for (const KvCacheDtype d :
       {KvCacheDtype::kAuto, KvCacheDtype::kBf16, KvCacheDtype::kFp8, KvCacheDtype::kF32}) {
    EXPECT_EQ(parse_kv_cache_dtype(kv_cache_dtype_name(d)), d) << "names round-trip";
  }
  // What model info reports for the type a backend keeps.
  EXPECT_EQ(kv_cache_dtype_name(tensor::DType::kF32), "f32");
  EXPECT_EQ(kv_cache_dtype_name(tensor::DType::kBF16), "bf16");
  EXPECT_EQ(kv_cache_dtype_name(tensor::DType::kF8E4M3), "fp8");
}

TEST(KvCacheDtype, TheCpuBackendKeepsF32Only) {
  BackendChoice cpu;
  for (const KvCacheDtype ok : {KvCacheDtype::kAuto, KvCacheDtype::kF32}) {
    cpu.kv_cache_dtype = ok;
    EXPECT_TRUE(check_backend_choice(cpu).is_ok()) << kv_cache_dtype_name(ok);
  }
  for (const KvCacheDtype refused : {KvCacheDtype::kBf16, KvCacheDtype::kFp8}) {
    cpu.kv_cache_dtype = refused;
    const core::Status s = check_backend_choice(cpu);
    EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
    const std::string want = "kv_cache_dtype " + std::string(kv_cache_dtype_name(refused));
    EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("cpu backend"), std::string::npos) << s.message();
    // make_backend refuses it too (the worker's and generate's path).
    auto made = make_backend(cpu, std::make_shared<backend::cpu::ThreadPool>(1));
    ASSERT_FALSE(made.is_ok());
    EXPECT_EQ(made.status().code(), ErrorCode::kUnsupported);
  }
}

TEST(KvCacheDtype, ReachesTheCudaBackendsOptions) {
  BackendChoice cuda;
  cuda.kind = "cuda";
  cuda.device = 2;
  backend::cuda::CudaOptions o = cuda_options_for(cuda, 3);
  EXPECT_EQ(o.device, 3) << "a tensor-parallel rank passes its own device";
  EXPECT_EQ(o.kv_dtype, tensor::DType::kBF16) << "auto: the backend's default, bf16";
  EXPECT_FALSE(o.exact_f32);

  cuda.kv_cache_dtype = KvCacheDtype::kFp8;
  o = cuda_options_for(cuda, cuda.device);
  EXPECT_EQ(o.device, 2);
  EXPECT_EQ(o.kv_dtype, tensor::DType::kF8E4M3);

  cuda.kv_cache_dtype = KvCacheDtype::kF32;
  o = cuda_options_for(cuda, 0);
  EXPECT_EQ(o.kv_dtype, tensor::DType::kF32);

  cuda.kv_cache_dtype = KvCacheDtype::kBf16;
  o = cuda_options_for(cuda, 0);
  EXPECT_EQ(o.kv_dtype, tensor::DType::kBF16);

  // exact_f32 travels with it; the backend lets it keep an f32 cache
  // whatever the flags say (CudaBackend::kv_dtype).
  cuda.exact_f32 = true;
  cuda.kv_cache_dtype = KvCacheDtype::kFp8;
  o = cuda_options_for(cuda, 0);
  EXPECT_TRUE(o.exact_f32);
  EXPECT_EQ(o.kv_dtype, tensor::DType::kF8E4M3);
}

}  // namespace
}  // namespace mlxs::runtime
