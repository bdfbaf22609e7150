// The matcher's masks equal the brute-force answer (every token's bytes
// tried from scratch) at every state of random walks; stop tokens, refusal,
// rollback and completion.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "guidance/compiler.h"
#include "guidance/matcher.h"
#include "guidance_test_util.h"

namespace mlxs::guidance {
namespace {

// A small vocabulary: every byte, pieces of JSON, words, numbers, UTF-8
// fragments and the first Llama-3 tokens when available. Id 0 is the stop id.
std::shared_ptr<const TokenVocab> small_vocab() {
  static const std::shared_ptr<const TokenVocab> vocab = [] {
    std::vector<std::string> tokens{""};
    for (int b = 1; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
    for (const char* t :
         {"{\"",  "\":", "\": ",         "\",",     "\", \"",      "\"}",   "\"]",
          "},{",  "}]",  "[{",           "\"\"",    "true",        "false", "null",
          "123",  "-1",  "0.5",          "e10",     "name",        "age",   "tags",
          " \"",  "  ",  "\n",           "abc",     "hello world", "中文",  "\xE4\xB8",
          "\xAD", "😀",   "\\n",          "\\\"",    "\\u00",       "2024-", "01-",
          "T12:", "00Z", "@example.com", "http://", ".",           ",",     ":",
          "[]",   "{}",  "yes",          "no",      "maybe",       "-",     "\"type\""}) {
      tokens.emplace_back(t);
    }
    if (const tokenizer::Tokenizer* tok = test::llama3()) {
      auto full = TokenVocab::from_tokenizer(*tok);
      for (std::int32_t id = 0; id < 3000 && full.is_ok(); ++id) {
        const std::string_view b = (*full)->bytes(id * 37 % 128000);
        if (!b.empty()) tokens.emplace_back(b);
      }
    }
    return TokenVocab::from_tokens(tokens, {0});
  }();
  return vocab;
}

void expect_masks_match(Matcher& m, const std::string& what) {
  const std::size_t words = m.grammar().vocab().words();
  std::vector<std::uint32_t> fast(words), slow(words);
  m.fill_mask(fast);
  m.fill_mask_brute_force(slow);
  if (fast == slow) return;
  for (std::size_t i = 0; i < words * 32; ++i) {
    const auto id = static_cast<std::int32_t>(i);
    if (test::has_bit(fast, id) != test::has_bit(slow, id)) {
      ADD_FAILURE() << what << ": token " << id << " '" << m.grammar().vocab().bytes(id)
                    << "' fast " << test::has_bit(fast, id) << " brute force "
                    << test::has_bit(slow, id);
      return;
    }
  }
}

struct Case {
  std::string name;
  ConstraintSpec spec;
};

std::vector<Case> cases() {
  const auto schema = [](const char* text, Whitespace ws = Whitespace::kCompact) {
    ConstraintSpec s;
    s.kind = ConstraintSpec::Kind::kJsonSchema;
    s.text = text;
    s.json.whitespace = ws;
    return s;
  };
  const auto regex = [](const char* text) {
    ConstraintSpec s;
    s.kind = ConstraintSpec::Kind::kRegex;
    s.text = text;
    return s;
  };
  const auto grammar = [](const char* text) {
    ConstraintSpec s;
    s.kind = ConstraintSpec::Kind::kGrammar;
    s.text = text;
    return s;
  };
  ConstraintSpec json_mode;
  json_mode.kind = ConstraintSpec::Kind::kJsonObject;
  ConstraintSpec json_flex = json_mode;
  json_flex.json.whitespace = Whitespace::kFlexible;
  return {
      {"object",
       schema(
           R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0},
          "tags":{"type":"array","items":{"type":"string","maxLength":5}}},"required":["name"]})")},
      {"python",
       schema(
           R"({"type":"object","properties":{"a":{"enum":["x","yes",1,null]},"b":{"type":"number"}}})",
           Whitespace::kPython)},
      {"flexible",
       schema(R"({"type":"array","items":{"type":["boolean","null","string"]},"maxItems":3})",
              Whitespace::kFlexible)},
      {"anyof",
       schema(
           R"({"anyOf":[{"type":"string","format":"date-time"},{"type":"number","multipleOf":0.5}]})")},
      {"json_mode", json_mode},
      {"json_mode_flexible", json_flex},
      {"regex_words", regex("[a-z]+( [a-z]+)*\\.")},
      {"regex_phone", regex("\\d{3}-\\d{4}")},
      {"regex_choice", regex("yes|no|maybe")},
      {"regex_unicode", regex("[中文]+x?")},
      {"grammar_nested", grammar(R"(root ::= "[" (item ("," item)*)? "]"
item ::= root | [0-9]+ | "\"" [^"\\]* "\"")")},
      {"grammar_words", grammar(R"(root ::= word (" " word){0,3} [.!]?
word ::= [a-z]+ | "中文" | "true")")},
  };
}

TEST(Matcher, MasksEqualBruteForceOnRandomWalks) {
  Compiler compiler(small_vocab());
  core::Xoshiro256 rng(21);
  for (const Case& c : cases()) {
    auto g = compiler.compile(c.spec);
    ASSERT_TRUE(g.is_ok()) << c.name << ": " << g.status().to_string();
    for (int walk = 0; walk < 6; ++walk) {
      Matcher m(*g);
      std::vector<std::uint32_t> mask(small_vocab()->words());
      for (int step = 0; step < 40; ++step) {
        expect_masks_match(m, c.name + " step " + std::to_string(step));
        m.fill_mask(mask);
        std::vector<std::int32_t> allowed;
        for (std::int32_t id = 1; id < static_cast<std::int32_t>(small_vocab()->size()); ++id) {
          if (test::has_bit(mask, id)) allowed.push_back(id);
        }
        if (allowed.empty()) {
          EXPECT_TRUE(m.can_terminate()) << c.name << ": a state with no way on";
          break;
        }
        ASSERT_TRUE(m.advance(allowed[rng.below(allowed.size())]).is_ok());
      }
    }
  }
}

TEST(Matcher, FullLlama3VocabularyMasksEqualBruteForce) {
  Compiler* compiler = test::llama3_compiler();
  if (compiler == nullptr) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  auto g = compiler->json_schema(R"({"type":"object","properties":{"id":{"type":"integer"},
      "note":{"type":"string","pattern":"^[a-z ]*$"}},"required":["id","note"]})");
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  Matcher m(*g);
  for (const char* bytes : {"", "{\"id\":", "1", "2,", "\"note\":\"ab", "c d"}) {
    ASSERT_TRUE(m.advance_bytes(bytes)) << bytes;
    expect_masks_match(m, std::string("after '") + bytes + "'");
  }
}

TEST(Matcher, StopTokensOnlyWhereTheConstraintMayEnd) {
  Compiler compiler(small_vocab());
  auto g = compiler.regex("ab|abc");
  ASSERT_TRUE(g.is_ok());
  Matcher m(*g);
  std::vector<std::uint32_t> mask(small_vocab()->words());
  m.fill_mask(mask);
  EXPECT_FALSE(test::has_bit(mask, 0));
  EXPECT_FALSE(m.advance(0).is_ok());
  ASSERT_TRUE(m.advance_bytes("ab"));
  EXPECT_TRUE(m.can_terminate());
  EXPECT_FALSE(m.is_complete());  // "c" may still follow
  m.fill_mask(mask);
  EXPECT_TRUE(test::has_bit(mask, 0));
  ASSERT_TRUE(m.advance_bytes("c"));
  EXPECT_TRUE(m.is_complete());
  ASSERT_TRUE(m.advance(0).is_ok());
  EXPECT_TRUE(m.is_terminated());
  m.fill_mask(mask);
  for (const auto w : mask) EXPECT_EQ(w, 0u);
}

TEST(Matcher, RefusedTokensLeaveTheStateAndRollbackRestoresIt) {
  Compiler compiler(small_vocab());
  auto g = compiler.json_object();
  ASSERT_TRUE(g.is_ok());
  Matcher m(*g);
  std::vector<std::uint32_t> before(small_vocab()->words()), after(small_vocab()->words());
  const auto id_of = [&](std::string_view bytes) {
    for (std::int32_t id = 0; id < static_cast<std::int32_t>(small_vocab()->size()); ++id) {
      if (small_vocab()->bytes(id) == bytes) return id;
    }
    return -1;
  };
  ASSERT_TRUE(m.advance(id_of("{\"")).is_ok());
  m.fill_mask(before);
  const core::Status refused = m.advance(id_of("\n"));  // raw control characters end no string
  EXPECT_EQ(refused.code(), core::ErrorCode::kGuidanceError);
  m.fill_mask(after);
  EXPECT_EQ(before, after);
  ASSERT_TRUE(m.advance(id_of("name")).is_ok());
  ASSERT_TRUE(m.advance(id_of("\":")).is_ok());
  ASSERT_TRUE(m.rollback(2).is_ok());
  m.fill_mask(after);
  EXPECT_EQ(before, after);
  EXPECT_FALSE(m.rollback(5).is_ok());
  m.reset();
  EXPECT_FALSE(m.can_terminate());
}

}  // namespace
}  // namespace mlxs::guidance
