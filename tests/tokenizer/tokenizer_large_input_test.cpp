// The real tokenizers on 10 MB of prose and on 1 MB of one repeated
// character (the BPE merge is O(n log n) however long a word is). Slow under
// sanitizers, so labelled parity rather than unit.
#include <gtest/gtest.h>

#include "tokenizer_bench.h"
#include "tokenizer_fixtures.h"

namespace mlxs::tokenizer {
namespace {

using testing::tokenizer_case;
using testing::tokenizer_case_names;

class TokenizerRobustness : public ::testing::TestWithParam<std::string> {
 protected:
  const Tokenizer* tok() {
    const auto& c = tokenizer_case(GetParam());
    EXPECT_TRUE(c.error.empty()) << c.error;
    return c.tokenizer.get();
  }
};

TEST_P(TokenizerRobustness, TenMegabytesAndRepetitions) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  const std::string prose = bench::generate_bench_text("prose", 10u << 20, 3);
  auto ids = t->encode(prose, false);
  ASSERT_TRUE(ids.is_ok()) << ids.status().to_string();
  EXPECT_GT(ids->size(), prose.size() / 16);
  auto back = t->decode(*ids, false);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->size() >= prose.size() - 1, true);  // SentencePiece models drop the leading space
  for (const std::string unit : {"a", " ", "\n", "!", "1", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80"}) {
    std::string text;
    while (text.size() < (1u << 20)) text += unit;
    auto r = t->encode(text, false);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_FALSE(r->empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerRobustness, ::testing::ValuesIn(tokenizer_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace mlxs::tokenizer
