// LineReader: lines split anywhere, CRLF, blank lines, and lines over the
// limit reported once without being kept.
#include "control/line_reader.h"

#include <gtest/gtest.h>

namespace mlxs::control {
namespace {

std::vector<ReadLine> feed_all(LineReader& r, const std::vector<std::string>& pieces) {
  std::vector<ReadLine> out;
  for (const auto& p : pieces) r.feed(p, out);
  return out;
}

TEST(LineReader, SplitsLinesAcrossReads) {
  LineReader r(64);
  const auto lines = feed_all(r, {"{\"a\"", ":1}\n{\"b\":2}\r\n\n  \n{\"c\"", ":3}\n"});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "{\"a\":1}");
  EXPECT_EQ(lines[1].text, "{\"b\":2}");
  EXPECT_EQ(lines[2].text, "{\"c\":3}");
  EXPECT_EQ(r.pending(), 0u);
}

TEST(LineReader, HoldsAnUnfinishedLine) {
  LineReader r(64);
  std::vector<ReadLine> out;
  r.feed("abc", out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.pending(), 3u);
  r.feed("def\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "abcdef");
}

TEST(LineReader, OversizedLineIsReportedOnceAndNotKept) {
  LineReader r(8);
  std::vector<ReadLine> out;
  r.feed("12345", out);
  EXPECT_FALSE(r.over_limit());
  r.feed("6789", out);  // 9 bytes: past the limit before the line ends
  EXPECT_TRUE(r.over_limit());
  EXPECT_LE(r.pending(), 8u);
  for (int i = 0; i < 1000; ++i) r.feed(std::string(1000, 'x'), out);
  EXPECT_EQ(r.pending(), 0u) << "dropped bytes are not held";
  r.feed("x\nok\n", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].oversized);
  EXPECT_EQ(out[0].bytes, 9u + 1000u * 1000u + 1u);
  EXPECT_TRUE(out[0].text.empty());
  EXPECT_FALSE(out[1].oversized);
  EXPECT_EQ(out[1].text, "ok");
  EXPECT_FALSE(r.over_limit());
}

TEST(LineReader, ALineOfExactlyTheLimitIsKept) {
  LineReader r(4);
  std::vector<ReadLine> out;
  r.feed("abcd\nabcde\n", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].oversized);
  EXPECT_EQ(out[0].text, "abcd");
  EXPECT_TRUE(out[1].oversized);
}

}  // namespace
}  // namespace mlxs::control
