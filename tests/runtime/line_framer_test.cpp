#include <gtest/gtest.h>

#include "runtime/line_framer.h"

namespace mlxs::runtime {
namespace {

std::vector<FramedLine> feed_all(LineFramer& f, std::initializer_list<std::string_view> pieces) {
  std::vector<FramedLine> out;
  for (auto p : pieces) f.feed(p, out);
  return out;
}

TEST(LineFramer, SplitsAcrossReadsAndSkipsBlankLines) {
  LineFramer f(100);
  auto lines = feed_all(f, {"{\"a\":", "1}\n\n  \n{\"b\"", ":2}\r\n{\"c\":3}"});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "{\"a\":1}");
  EXPECT_EQ(lines[1].text, "{\"b\":2}") << "a trailing CR is dropped";
  auto last = f.finish();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->text, "{\"c\":3}");
  EXPECT_FALSE(f.finish().has_value());
}

TEST(LineFramer, OversizedLinesAreReportedOnceAndKeepTheirTail) {
  LineFramer f(16);
  std::vector<FramedLine> out;
  f.feed("0123456789", out);
  f.feed("0123456789", out);
  f.feed(std::string(1000, 'x') + "\"id\":5}\n{\"ok\":1}\n", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].oversized);
  EXPECT_EQ(out[0].bytes, 1027u);
  EXPECT_LE(out[0].text.size(), LineFramer::kTailBytes);
  EXPECT_EQ(out[0].text.substr(out[0].text.size() - 7), "\"id\":5}");
  EXPECT_FALSE(out[1].oversized) << "the next line is read normally";
  EXPECT_EQ(out[1].text, "{\"ok\":1}");
}

TEST(LineFramer, ExactlyTheLimitFits) {
  LineFramer f(4);
  std::vector<FramedLine> out;
  f.feed("abcd\nabcde\n", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].oversized);
  EXPECT_TRUE(out[1].oversized);
}

TEST(LineFramer, OversizedLastLineAtEof) {
  LineFramer f(4);
  std::vector<FramedLine> out;
  f.feed("abcdefgh", out);
  EXPECT_TRUE(out.empty());
  auto last = f.finish();
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->oversized);
}

}  // namespace
}  // namespace mlxs::runtime
