// Every encode and decode entry of every tokenizer fixture, exactly.
#include <gtest/gtest.h>

#include "tokenizer/stream_decoder.h"
#include "tokenizer_fixtures.h"

namespace mlxs::tokenizer {
namespace {

using testing::tokenizer_case;
using testing::tokenizer_case_names;

class TokenizerParity : public ::testing::TestWithParam<std::string> {};

std::string show(const std::string& s) {
  return nlohmann::json(s).dump();
}

TEST_P(TokenizerParity, LoadsWithMetadata) {
  const auto& c = tokenizer_case(GetParam());
  ASSERT_TRUE(c.error.empty()) << c.error;
  const auto& meta = c.fixture["meta"];
  EXPECT_EQ(c.tokenizer->vocab_size(), meta["vocab_size_with_added_tokens"].get<std::size_t>());
  const auto& specials = meta["special_tokens"];
  const auto check = [&](const char* key, std::int32_t id) {
    if (specials[key].is_null()) {
      EXPECT_EQ(id, -1) << key;
    } else {
      const auto want = c.tokenizer->token_to_id(specials[key].get<std::string>());
      ASSERT_TRUE(want.has_value()) << key;
      EXPECT_EQ(id, *want) << key;
    }
  };
  check("bos_token", c.tokenizer->bos_id());
  check("eos_token", c.tokenizer->eos_id());
  check("pad_token", c.tokenizer->pad_id());
  check("unk_token", c.tokenizer->unk_id());
}

TEST_P(TokenizerParity, EncodeMatchesEveryEntry) {
  const auto& c = tokenizer_case(GetParam());
  ASSERT_TRUE(c.error.empty()) << c.error;
  std::size_t passed = 0, total = 0;
  for (const auto& e : c.fixture["encode"]) {
    ++total;
    const auto text = e["text"].get<std::string>();
    const bool add = e["add_special_tokens"].get<bool>();
    const auto want = e["ids"].get<std::vector<std::int32_t>>();
    auto got = c.tokenizer->encode(text, add);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    if (*got == want) {
      ++passed;
    } else {
      ADD_FAILURE() << c.name << " encode[" << e["index"] << "] kind=" << e["kind"]
                    << " add=" << add << " text=" << show(text).substr(0, 300) << "\n want "
                    << nlohmann::json(want).dump().substr(0, 300) << "\n got  "
                    << nlohmann::json(*got).dump().substr(0, 300);
    }
  }
  RecordProperty("encode_passed", static_cast<int>(passed));
  std::printf("[ parity ] %s encode: %zu/%zu\n", c.name.c_str(), passed, total);
}

TEST_P(TokenizerParity, DecodeMatchesEveryEntry) {
  const auto& c = tokenizer_case(GetParam());
  ASSERT_TRUE(c.error.empty()) << c.error;
  std::size_t passed = 0, total = 0;
  for (const auto& e : c.fixture["decode"]) {
    ++total;
    const auto ids = e["ids"].get<std::vector<std::int32_t>>();
    const bool skip = e["skip_special_tokens"].get<bool>();
    const auto want = e["decoded"].get<std::string>();
    auto got = c.tokenizer->decode(ids, skip);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    auto generic = c.tokenizer->decode_generic(ids, skip);
    ASSERT_TRUE(generic.is_ok()) << generic.status().to_string();
    if (*got == want && *generic == want) {
      ++passed;
    } else {
      ADD_FAILURE() << c.name << " decode source=" << e["source"] << " skip=" << skip
                    << " ids=" << nlohmann::json(ids).dump().substr(0, 200) << "\n want "
                    << show(want).substr(0, 300) << "\n got  " << show(*got).substr(0, 300)
                    << "\n generic " << show(*generic).substr(0, 300);
    }
  }
  std::printf("[ parity ] %s decode: %zu/%zu\n", c.name.c_str(), passed, total);
}

// Streaming: ids one at a time; chunks are whole UTF-8 and join to decode().
TEST_P(TokenizerParity, StreamDecodeJoinsToBatchDecode) {
  const auto& c = tokenizer_case(GetParam());
  ASSERT_TRUE(c.error.empty()) << c.error;
  std::vector<std::vector<std::int32_t>> sequences;
  for (const auto& e : c.fixture["encode"])
    sequences.push_back(e["ids"].get<std::vector<std::int32_t>>());
  for (const auto& e : c.fixture["decode"])
    sequences.push_back(e["ids"].get<std::vector<std::int32_t>>());
  for (const bool skip : {false, true}) {
    StreamDecoder stream(*c.tokenizer, skip);
    for (const auto& ids : sequences) {
      std::string joined, chunk;
      for (const std::int32_t id : ids) {
        chunk.clear();
        ASSERT_TRUE(stream.push(id, chunk).is_ok());
        EXPECT_TRUE(utf8::is_valid(chunk));
        joined += chunk;
      }
      chunk.clear();
      ASSERT_TRUE(stream.finish(chunk).is_ok());
      joined += chunk;
      auto batch = c.tokenizer->decode(ids, skip);
      ASSERT_TRUE(batch.is_ok());
      EXPECT_EQ(joined, *batch) << c.name << " skip=" << skip
                                << " ids=" << nlohmann::json(ids).dump().substr(0, 200);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerParity, ::testing::ValuesIn(tokenizer_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace mlxs::tokenizer
