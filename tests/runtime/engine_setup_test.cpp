// The KV cache's share of a GPU under gpu_memory_fraction: what is in use
// counts against the share, a reserve stays free, and a share already spent
// is a ModelLoadError with the numbers.
#include "runtime/engine_setup.h"

#include <gtest/gtest.h>

namespace mlxs::runtime {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kGiB = std::size_t{1} << 30;

TEST(EngineSetup, KvTakesWhatIsLeftOfTheShare) {
  // 80 GiB device, 16 GiB in use (weights): 0.9 leaves 72 - 16 - 0.5 GiB.
  auto kv = kv_bytes_from_device(64 * kGiB, 80 * kGiB, 0.9);
  ASSERT_TRUE(kv.is_ok()) << kv.status().to_string();
  EXPECT_EQ(*kv, static_cast<std::size_t>(80.0 * kGiB * 0.9) - 16 * kGiB - 512 * kMiB);
  // Little left of a large share: only that little.
  auto tight = kv_bytes_from_device(2 * kGiB, 80 * kGiB, 0.99);
  ASSERT_TRUE(tight.is_ok());
  EXPECT_EQ(*tight, static_cast<std::size_t>(80.0 * kGiB * 0.99) - 78 * kGiB - 512 * kMiB);
}

TEST(EngineSetup, ASpentShareIsAModelLoadErrorWithTheNumbers) {
  // Another model already holds 70 of 80 GiB: a 0.8 share has nothing left.
  auto kv = kv_bytes_from_device(10 * kGiB, 80 * kGiB, 0.8);
  ASSERT_FALSE(kv.is_ok());
  EXPECT_EQ(kv.status().code(), core::ErrorCode::kModelLoadError);
  EXPECT_NE(kv.status().message().find("71680 MiB of 81920 MiB"), std::string::npos)
      << kv.status().message();
  EXPECT_FALSE(kv_bytes_from_device(100 * kMiB, 80 * kGiB, 0.9).is_ok()) << "free below reserve";
}

}  // namespace
}  // namespace mlxs::runtime
