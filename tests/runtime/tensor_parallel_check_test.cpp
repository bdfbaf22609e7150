// The refusals of --tensor-parallel / workers.tensor_parallel before
// anything loads: counts out of range, ranks past the last GPU, CUDA
// without NCCL; and the CPU threads each rank gets.
#include "runtime/tensor_parallel.h"

#include <gtest/gtest.h>

namespace mlxs::runtime {
namespace {

using core::ErrorCode;

TEST(TensorParallelCheck, CountsOutOfRangeAreInvalidParams) {
  BackendChoice cpu;
  for (int n : {0, -1, -64, kMaxTensorParallel + 1, 1 << 30}) {
    const core::Status s = check_tensor_parallel(cpu, n, 0);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidParams) << n;
    EXPECT_NE(s.message().find("tensor_parallel"), std::string::npos) << s.message();
  }
  for (int n : {1, 2, 8, kMaxTensorParallel}) EXPECT_TRUE(check_tensor_parallel(cpu, n, 0).is_ok());
}

TEST(TensorParallelCheck, RanksPastTheLastGpuAreRefused) {
  BackendChoice cuda;
  cuda.kind = "cuda";
  // One rank never needs NCCL or a second device.
  EXPECT_TRUE(check_tensor_parallel(cuda, 1, 1).is_ok());
#ifdef MLXS_HAVE_NCCL
  const core::Status one_gpu = check_tensor_parallel(cuda, 2, 1);
  EXPECT_EQ(one_gpu.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(one_gpu.message().find("1 GPU(s)"), std::string::npos) << one_gpu.message();
  EXPECT_TRUE(check_tensor_parallel(cuda, 2, 2).is_ok());
  cuda.device = 1;  // ranks on devices 1 and 2 of two
  const core::Status offset = check_tensor_parallel(cuda, 2, 2);
  EXPECT_EQ(offset.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(offset.message().find("devices 1..2"), std::string::npos) << offset.message();
  EXPECT_EQ(check_tensor_parallel(cuda, 8, 0).code(), ErrorCode::kInvalidParams);
#else
  const core::Status s = check_tensor_parallel(cuda, 2, 8);
  EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
  EXPECT_NE(s.message().find("NCCL"), std::string::npos) << s.message();
#endif
}

TEST(TensorParallelCheck, ThreadsAreSharedOutAtLeastOneEach) {
  EXPECT_EQ(threads_per_rank(8, 2), 4);
  EXPECT_EQ(threads_per_rank(7, 2), 3);
  EXPECT_EQ(threads_per_rank(1, 4), 1);
  EXPECT_GE(threads_per_rank(0, 2), 1);  // 0: the machine's CPUs
}

}  // namespace
}  // namespace mlxs::runtime
