// The real tokenizers on 10 MB of prose and on 1 MB of one repeated
// character (the BPE merge is O(n log n) however long a word is). Slow under
// sanitizers, so labelled parity rather than unit.
#include <gtest/gtest.h>

#include "core/json_util.h"
#include "tokenizer/bpe.h"
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

// Long words are cut where no merge can span the cut; the ids must equal one
// heap merge over the whole word (SentencePiece-style models see the whole
// text as one word, so every fixture text is such a word).
TEST_P(TokenizerRobustness, CutLongWordsEqualWholeWordMerge) {
  const auto& c = tokenizer_case(GetParam());
  ASSERT_TRUE(c.error.empty()) << c.error;
  auto doc = core::read_json_file(c.model_dir + "/tokenizer.json", "tokenizer.json",
                                  core::ErrorCode::kTokenizerError);
  ASSERT_TRUE(doc.is_ok());
  if ((*doc)["model"].value("type", "") != "BPE") GTEST_SKIP() << "not BPE";
  auto model = BpeModel::from_json((*doc)["model"], "model");
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  std::string word;
  for (const auto& e : c.fixture["encode"]) {
    // Texts as the model would see them without a pre-tokenizer, ▁ for spaces.
    for (const char ch : e["text"].get<std::string>())
      word += ch == ' ' ? std::string("\xE2\x96\x81") : std::string(1, ch);
    if (word.size() < 300) continue;
    std::vector<std::int32_t> cut, whole;
    ASSERT_TRUE((*model)->tokenize(word, cut).is_ok());
    (*model)->merge_word(word, whole);
    ASSERT_EQ(cut, whole) << c.name << " text " << e["index"];
    word.clear();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerRobustness, ::testing::ValuesIn(tokenizer_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace mlxs::tokenizer
