// The real tokenizers under hostile use: invalid UTF-8, concurrent encodes,
// and streaming over random ids (10 MB inputs: tokenizer_large_input_test).
#include <thread>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"
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

TEST_P(TokenizerRobustness, InvalidUtf8IsEncodedAsReplacementCharacters) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  const std::string bad = "caf\xC3 \xFF\xFEok \xE2\x82 end\xF0\x9F";
  auto got = t->encode(bad, true);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  auto want = t->encode(utf8::to_valid(bad), true);
  ASSERT_TRUE(want.is_ok());
  EXPECT_EQ(*got, *want);
}

TEST_P(TokenizerRobustness, ConcurrentEncodesAgree) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  const auto& c = tokenizer_case(GetParam());
  std::vector<std::string> texts;
  std::vector<std::vector<std::int32_t>> want;
  for (const auto& e : c.fixture["encode"]) {
    if (!e["add_special_tokens"].get<bool>()) continue;
    texts.push_back(e["text"].get<std::string>());
    want.push_back(e["ids"].get<std::vector<std::int32_t>>());
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < texts.size(); ++i) {
          const std::size_t j = (i * 7 + static_cast<std::size_t>(k) * 13) % texts.size();
          auto r = t->encode(texts[j], true);
          if (!r.is_ok() || *r != want[j]) ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// Random ids (uniform, byte tokens, specials): stream chunks are valid UTF-8
// and join to the batch decode.
TEST_P(TokenizerRobustness, StreamEqualsBatchOnRandomIds) {
  const Tokenizer* t = tok();
  ASSERT_NE(t, nullptr);
  core::Xoshiro256 rng(7);
  std::vector<std::int32_t> byte_ids;
  for (std::int32_t id = 0; id < static_cast<std::int32_t>(t->id_limit()); ++id) {
    const auto tk = t->id_to_token(id);
    if (tk && (tk->size() == 6 && tk->substr(0, 3) == "<0x")) byte_ids.push_back(id);
    if (tk && utf8::count_chars(*tk) == 1 && tk->size() == 2)
      byte_ids.push_back(id);  // byte-level chars
  }
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<std::int32_t> ids;
    const auto n = 1 + rng.below(24);
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto pick = rng.below(10);
      if (pick < 5 && !byte_ids.empty()) {
        ids.push_back(byte_ids[rng.below(byte_ids.size())]);
      } else {
        ids.push_back(static_cast<std::int32_t>(rng.below(t->id_limit() + 2)));  // may be unknown
      }
    }
    for (const bool skip : {false, true}) {
      StreamDecoder s(*t, skip);
      std::string joined, chunk;
      for (const auto id : ids) {
        chunk.clear();
        ASSERT_TRUE(s.push(id, chunk).is_ok());
        ASSERT_TRUE(utf8::is_valid(chunk));
        joined += chunk;
      }
      ASSERT_TRUE(s.finish(joined).is_ok());
      auto batch = t->decode(ids, skip);
      auto generic = t->decode_generic(ids, skip);
      ASSERT_TRUE(batch.is_ok() && generic.is_ok());
      EXPECT_EQ(*batch, *generic);
      EXPECT_EQ(joined, *batch);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerRobustness, ::testing::ValuesIn(tokenizer_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(TokenizerBench, SmokeRun) {
  const auto& c = tokenizer_case("llama2");
  if (!c.error.empty()) GTEST_SKIP() << c.error;
  bench::TokenizerBenchOptions o;
  o.model_dir = c.model_dir;
  o.text_bytes = 20000;
  o.document_bytes = 4000;
  o.repeats = 1;
  o.threads = 2;
  o.pathological = false;
  o.progress = false;
  auto r = bench::run_tokenizer_bench(o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["rows"].size(), 3u);
  EXPECT_NE(bench::format_tokenizer_table(*r).find("prose"), std::string::npos);
}

}  // namespace
}  // namespace mlxs::tokenizer
