#include "engine/stop_matcher.h"

#include <gtest/gtest.h>

namespace mlxs::engine {
namespace {

std::string run(const std::vector<std::string>& stops, const std::vector<std::string>& pieces,
                bool* stopped) {
  StopMatcher m(stops);
  std::string out;
  *stopped = false;
  for (const auto& p : pieces) {
    out += m.feed(p, stopped);
    if (*stopped) return out;
  }
  return out + m.flush();
}

TEST(StopMatcher, MatchesAcrossPiecesAndNeverEmitsTheStop) {
  bool stopped = false;
  EXPECT_EQ(run({"END"}, {"hello E", "N", "D and more"}, &stopped), "hello ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(run({"END"}, {"hello E", "N", "! more"}, &stopped), "hello EN! more");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(run({"\n\n", "###"}, {"a\n", "#", "#", "#b"}, &stopped), "a\n");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(run({"ab"}, {"xaab"}, &stopped), "xa");
}

TEST(StopMatcher, HoldsBackOnlyPossiblePrefixes) {
  StopMatcher m(std::vector<std::string>{"stop"});
  bool stopped = false;
  EXPECT_EQ(m.feed("the st", &stopped), "the ");
  EXPECT_EQ(m.feed("x", &stopped), "stx");
  EXPECT_EQ(m.flush(), "");
  StopMatcher none;
  EXPECT_EQ(none.feed("anything", &stopped), "anything");
}

}  // namespace
}  // namespace mlxs::engine
