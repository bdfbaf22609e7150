// The model.load_progress pacing: the first report at once, then at most one
// per interval, a complete one always, and the last one held back handed out
// once by flush() so a load's final figures always reach the client.
#include "runtime/load_progress.h"

#include <gtest/gtest.h>

#include "protocol/protocol.h"

namespace mlxs::runtime {
namespace {

constexpr core::Nanos kMs = 1'000'000;

model::LoadProgress at(std::size_t tensors, std::size_t total = 10) {
  model::LoadProgress p;
  p.tensors = tensors;
  p.tensors_total = total;
  p.bytes = tensors * 100;
  p.bytes_total = total * 100;
  return p;
}

TEST(LoadProgressThrottle, AtMostOnePerIntervalCompleteAlways) {
  LoadProgressThrottle t(100 * kMs);
  EXPECT_TRUE(t.admit(0, at(1))) << "the first report goes at once";
  EXPECT_FALSE(t.admit(10 * kMs, at(2)));
  EXPECT_FALSE(t.admit(99 * kMs, at(3)));
  EXPECT_TRUE(t.admit(100 * kMs, at(4)));
  EXPECT_FALSE(t.admit(150 * kMs, at(5)));
  EXPECT_TRUE(t.admit(151 * kMs, at(10))) << "every tensor bound: never held back";
  EXPECT_FALSE(t.flush().has_value()) << "the complete report was sent";
}

TEST(LoadProgressThrottle, ManyFastReportsAreBounded) {
  LoadProgressThrottle t(100 * kMs);
  int sent = 0;
  // 1000 reports over one second (one per millisecond): at most 10 + the first.
  for (std::size_t i = 1; i <= 1000; ++i) {
    if (t.admit(static_cast<core::Nanos>(i) * kMs, at(i, 2000))) ++sent;
  }
  EXPECT_GE(sent, 10);
  EXPECT_LE(sent, 11);
}

TEST(LoadProgressThrottle, FlushHandsOutTheLastHeldReportOnce) {
  LoadProgressThrottle t(100 * kMs);
  EXPECT_TRUE(t.admit(0, at(1)));
  EXPECT_FALSE(t.admit(1 * kMs, at(2)));
  EXPECT_FALSE(t.admit(2 * kMs, at(3)));
  const auto last = t.flush();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->tensors, 3u) << "the latest held report, not the first";
  EXPECT_FALSE(t.flush().has_value());
  // Unused tensors: a checkpoint may never reach its total; flush still
  // delivers how far the load got.
  EXPECT_TRUE(t.admit(500 * kMs, at(8)));
  EXPECT_FALSE(t.flush().has_value());
}

TEST(LoadProgressThrottle, NoticeCarriesTheFigures) {
  const auto n = load_progress_notice("m", at(3, 7));
  EXPECT_EQ(n.model_id, "m");
  EXPECT_EQ(n.done_bytes, 300);
  EXPECT_EQ(n.total_bytes, 700);
  EXPECT_EQ(n.tensors_done, 3);
  EXPECT_EQ(n.tensors_total, 7);
  EXPECT_TRUE((*protocol::SchemaSet::rpc())
                  ->validate("model.load_progress.params", protocol::to_json(n))
                  .is_ok());
}

}  // namespace
}  // namespace mlxs::runtime
