// Byte automata: canonical minimal forms, set operations, UTF-8 ranges, and
// regexes checked against the schema module's own matcher on random strings.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "guidance/dfa.h"
#include "guidance/dfa_ops.h"
#include "guidance/nfa.h"
#include "guidance/regex_dfa.h"
#include "guidance/utf8_ranges.h"
#include "schema/regex.h"

namespace mlxs::guidance {
namespace {

Dfa regex(const std::string& p, RegexMode mode = RegexMode::kFullMatch) {
  auto d = regex_to_dfa(p, mode);
  EXPECT_TRUE(d.is_ok()) << p << ": " << d.status().to_string();
  return d.is_ok() ? std::move(d).value() : Dfa();
}

TEST(Dfa, EqualLanguagesGiveEqualAutomata) {
  EXPECT_EQ(regex("a|b"), regex("[ab]"));
  EXPECT_EQ(regex("(ab)*a"), regex("a(ba)*"));
  EXPECT_EQ(regex("x{2,3}"), regex("xx|xxx"));
  EXPECT_FALSE(regex("a+") == regex("a*"));
  EXPECT_EQ(regex("a+").hash(), regex("aa*").hash());
}

TEST(Dfa, EmptyLanguageAndDeadState) {
  const Dfa none = *intersect(regex("a+"), regex("b+"));
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.matches(""));
  const Dfa some = regex("ab");
  EXPECT_EQ(some.next(some.start(), 'x'), kDead);
  EXPECT_TRUE(some.matches("ab"));
  EXPECT_FALSE(some.matches("a"));
  EXPECT_FALSE(some.matches("abb"));
}

TEST(Dfa, SetOperations) {
  const Dfa digits = regex("[0-9]+");
  const Dfa small = regex("[0-4]+");
  EXPECT_TRUE(is_subset(small, digits));
  EXPECT_FALSE(is_subset(digits, small));
  const Dfa big = *subtract(digits, small);
  EXPECT_TRUE(big.matches("5"));
  EXPECT_TRUE(big.matches("45"));
  EXPECT_FALSE(big.matches("44"));
  EXPECT_TRUE(is_disjoint(big, small));
  const Dfa u = *unite(regex("abc"), regex("x+"));
  EXPECT_TRUE(u.matches("abc") && u.matches("xxx"));
  EXPECT_FALSE(u.matches("ab"));
}

TEST(Dfa, LiteralsPrefixLoopsAndEmptyString) {
  const Dfa words = *literals_dfa({"cat", "car", "dog"});
  for (const char* w : {"cat", "car", "dog"}) EXPECT_TRUE(words.matches(w));
  EXPECT_FALSE(words.matches("ca"));
  const Dfa spaced = *with_prefix_loop(literal_dfa("{"), " \n");
  EXPECT_TRUE(spaced.matches("{") && spaced.matches("  \n {"));
  EXPECT_FALSE(spaced.matches("{ "));
  const Dfa star = regex("a*");
  EXPECT_TRUE(accepts_empty(star));
  const Dfa plus = *without_empty(star);
  EXPECT_FALSE(accepts_empty(plus));
  EXPECT_EQ(plus, regex("a+"));
  EXPECT_EQ(longest_match(regex("ab?c")), 3);
  EXPECT_EQ(longest_match(regex("ab*")), -1);
  EXPECT_EQ(longest_match(Dfa()), -2);
  EXPECT_EQ(*concat(regex("a+"), regex("b")), regex("a+b"));
}

TEST(Dfa, Utf8SequencesCoverEveryCodePointOnce) {
  core::Xoshiro256 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    char32_t lo = static_cast<char32_t>(rng.below(0x110000));
    char32_t hi = static_cast<char32_t>(rng.below(0x110000));
    if (lo > hi) std::swap(lo, hi);
    if (trial % 3 == 0)
      hi = std::min<char32_t>(lo + static_cast<char32_t>(rng.below(300)), 0x10FFFF);
    std::vector<Utf8Sequence> seqs;
    utf8_sequences(lo, hi, seqs);
    for (int probe = 0; probe < 50; ++probe) {
      const char32_t cp = static_cast<char32_t>(rng.below(0x110000));
      std::uint8_t bytes[4];
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      const int n = utf8_encode(cp, bytes);
      int hits = 0;
      for (const auto& s : seqs) {
        bool in = s.length == n;
        for (int i = 0; in && i < n; ++i)
          in = bytes[i] >= s.bytes[i].lo && bytes[i] <= s.bytes[i].hi;
        hits += in ? 1 : 0;
      }
      EXPECT_EQ(hits, cp >= lo && cp <= hi ? 1 : 0)
          << std::hex << static_cast<std::uint32_t>(cp) << " in [" << static_cast<std::uint32_t>(lo)
          << ", " << static_cast<std::uint32_t>(hi) << "]";
    }
  }
}

// Random strings over an alphabet that exercises the patterns.
std::string random_text(core::Xoshiro256& rng, const std::vector<std::string>& alphabet,
                        std::size_t max_len) {
  std::string s;
  const std::size_t n = rng.below(max_len + 1);
  for (std::size_t i = 0; i < n; ++i) s += alphabet[rng.below(alphabet.size())];
  return s;
}

TEST(RegexDfa, AgreesWithTheSchemaRegexEngine) {
  const std::vector<std::string> patterns = {"^[a-z]+$",
                                             "abc",
                                             "^a",
                                             "b$",
                                             "^(ab|cd)*$",
                                             "[0-9]{2,4}",
                                             "^\\d{3}-\\d{4}$",
                                             "x|^y|z$",
                                             "^$",
                                             "",
                                             "^[^a]*$",
                                             "(a|b)*abb",
                                             "^é+ü?$",
                                             "[α-ω]",
                                             "^.{2}$",
                                             "\\w+@\\w+\\.com",
                                             "^(?:x{0,2}y)+$",
                                             "^\\s*\\S+$",
                                             "[\\u4e00-\\u9fff]",
                                             "^[A-Z][a-z]*( [A-Z][a-z]*)*$"};
  const std::vector<std::string> alphabet = {"a", "b", "c",  "d", "x", "y",   "z", "0",
                                             "1", "5", "-",  "@", ".", "com", " ", "é",
                                             "ü", "α", "中", "A", "Q", "\n",  "_", "abb"};
  core::Xoshiro256 rng(11);
  for (const std::string& p : patterns) {
    auto re = schema::Regex::compile(p);
    ASSERT_TRUE(re.is_ok()) << p;
    const Dfa search = regex(p, RegexMode::kSearch);
    const Dfa full = regex(p, RegexMode::kFullMatch);
    for (int i = 0; i < 400; ++i) {
      const std::string s = random_text(rng, alphabet, 8);
      EXPECT_EQ(search.matches(s), re->search(s)) << "search /" << p << "/ on '" << s << "'";
      EXPECT_EQ(full.matches(s), re->full_match(s)) << "full /" << p << "/ on '" << s << "'";
    }
  }
}

TEST(RegexDfa, RefusesWordBoundariesAndBadSyntax) {
  auto wb = regex_to_dfa("\\bword\\b", RegexMode::kSearch);
  ASSERT_FALSE(wb.is_ok());
  EXPECT_EQ(wb.status().code(), core::ErrorCode::kGuidanceError);
  EXPECT_NE(wb.status().message().find("boundar"), std::string::npos);
  auto bad = regex_to_dfa("(unclosed", RegexMode::kSearch);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), core::ErrorCode::kGuidanceError);
  auto lookahead = regex_to_dfa("a(?=b)", RegexMode::kSearch);
  EXPECT_FALSE(lookahead.is_ok());
}

TEST(RegexDfa, LargeAutomataAreRefusedNotBuilt) {
  // (a|b)*a(a|b){n} needs 2^n states.
  auto huge = regex_to_dfa("(a|b)*a(a|b){20}", RegexMode::kFullMatch, 1u << 12);
  ASSERT_FALSE(huge.is_ok());
  EXPECT_NE(huge.status().message().find("too large"), std::string::npos);
}

TEST(Nfa, RepeatAndCodePoints) {
  Nfa nfa;
  const auto frag =
      nfa.repeat([&] { return nfa.code_points(schema::CodePointSet::range(U'α', U'γ')); }, 1, 2);
  const Dfa d = *nfa_to_dfa(nfa, frag);
  EXPECT_TRUE(d.matches("α"));
  EXPECT_TRUE(d.matches("βγ"));
  EXPECT_FALSE(d.matches(""));
  EXPECT_FALSE(d.matches("αβγ"));
  EXPECT_FALSE(d.matches("\xCE"));  // half a character
}

}  // namespace
}  // namespace mlxs::guidance
