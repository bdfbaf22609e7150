// GBNF grammars: syntax (and its errors, with line and column), the language
// each construct accepts, and random walks whose outputs an independent
// checker parses (JSON through nlohmann, arithmetic through a small
// recursive-descent reader, regular grammars through the schema module's
// regex engine).
#include <cctype>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "guidance/compiler.h"
#include "guidance/gbnf.h"
#include "guidance/matcher.h"
#include "guidance_test_util.h"
#include "schema/regex.h"

namespace mlxs::guidance {
namespace {

// Every byte is a token (id 0 stops), so a string is accepted exactly when
// the grammar's language holds it.
std::shared_ptr<const TokenVocab> byte_vocab() {
  static const std::shared_ptr<const TokenVocab> vocab = [] {
    std::vector<std::string> tokens{""};
    for (int b = 1; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
    return TokenVocab::from_tokens(tokens, {0});
  }();
  return vocab;
}

bool accepts(const std::shared_ptr<const CompiledGrammar>& g, const std::string& text) {
  Matcher m(g);
  return m.advance_bytes(text) && m.can_terminate();
}

std::shared_ptr<const CompiledGrammar> compile(const std::string& text) {
  static Compiler compiler(byte_vocab());
  auto g = compiler.grammar(text);
  EXPECT_TRUE(g.is_ok()) << text << "\n" << g.status().to_string();
  return g.is_ok() ? *g : nullptr;
}

std::string error_of(const std::string& text) {
  TerminalTable terminals;
  auto g = gbnf_grammar(text, terminals);
  if (g.is_ok()) return "compiled";
  EXPECT_EQ(g.status().code(), core::ErrorCode::kGuidanceError);
  return g.status().message();
}

TEST(Gbnf, LiteralsClassesAndOperators) {
  auto g = compile(R"g(root ::= "a" [b-d]+ "e"? ("f" | "gh")* [^x-z]{2} .)g");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(accepts(g, "abqq!"));
  EXPECT_TRUE(accepts(g, "abcdeffghqq\xC3\xA9"));
  EXPECT_TRUE(accepts(g, "ab12\xC3\xA9"));  // . takes one code point, two bytes here
  EXPECT_FALSE(accepts(g, "aqq!"));         // [b-d]+ needs one
  EXPECT_FALSE(accepts(g, "abxq!"));        // x excluded
  EXPECT_FALSE(accepts(g, "abqq"));         // . needs one character
  EXPECT_FALSE(accepts(g, "abgqq!"));
}

TEST(Gbnf, Bounds) {
  auto g = compile("root ::= [0-9]{2,3} \"-\" [a]{,2} \"|\" [b]{1,}\n");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(accepts(g, "12-|b"));
  EXPECT_TRUE(accepts(g, "123-aa|bbb"));
  EXPECT_FALSE(accepts(g, "1-|b"));
  EXPECT_FALSE(accepts(g, "1234-|b"));
  EXPECT_FALSE(accepts(g, "12-aaa|b"));
  EXPECT_FALSE(accepts(g, "12-|"));
}

TEST(Gbnf, EscapesRulesCommentsAndLayout) {
  auto g = compile(R"g(# a comment
root ::= greeting
  ws name   # trailing comment
greeting ::=
    "hi" |
    "h\x65llo"
    | "\u00e9t\U0001F600"
name ::= [A-Z] [a-z\-]*
ws ::= [ \t\n]+
)g");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(accepts(g, "hi Bo"));
  EXPECT_TRUE(accepts(g, "hello\tAnn-marie"));
  EXPECT_TRUE(accepts(g, "\xC3\xA9t\xF0\x9F\x98\x80 X"));
  EXPECT_FALSE(accepts(g, "hiBo"));
  EXPECT_FALSE(accepts(g, "hi bo"));
}

TEST(Gbnf, RecursionIsContextFree) {
  auto g = compile(R"g(root ::= "(" root ")" | "")g");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(accepts(g, ""));
  EXPECT_TRUE(accepts(g, "((()))"));
  EXPECT_FALSE(accepts(g, "(()"));
  EXPECT_FALSE(accepts(g, "())"));
  const std::string deep = std::string(200, '(') + std::string(200, ')');
  EXPECT_TRUE(accepts(g, deep));
  EXPECT_FALSE(accepts(g, deep + ")"));
}

TEST(Gbnf, ErrorsNameTheProblemAndWhere) {
  EXPECT_NE(error_of("root ::= foo").find("undefined rule 'foo'"), std::string::npos);
  EXPECT_NE(error_of("root = \"a\"").find("line 1"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nx ::= \"unterminated").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("x ::= \"a\"").find("no 'root' rule"), std::string::npos);
  EXPECT_NE(error_of("root ::= [b-a]").find("out of order"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{3,2}").find("below minimum"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{5000}").find("above"), std::string::npos);
  EXPECT_NE(error_of("root ::= (\"a\"").find("expected ')'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(error_of("root ::= [^\\x00-\\U0010FFFF]").find("matches nothing"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" root").find("matches nothing"), std::string::npos);
}

// llama.cpp-style JSON grammar, written for this test.
constexpr const char* kJsonGrammar = R"g(
root   ::= value
value  ::= object | array | string | number | ("true" | "false" | "null")
object ::= "{" ws ( string ":" ws value ws ("," ws string ":" ws value ws)* )? "}"
array  ::= "[" ws ( value ws ("," ws value ws)* )? "]"
string ::= "\"" ( [^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) )* "\""
number ::= "-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]+)? ([eE] [-+]? [0-9]{1,3})?
ws     ::= [ \t\n]{0,4}
)g";

// expr ::= term (("+" | "-") term)*, term ::= factor (("*" | "/") factor)*,
// factor ::= number | "(" expr ")".
struct Arith {
  const std::string& s;
  std::size_t i = 0;
  bool number() {
    const std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) != 0) ++i;
    return i > start;
  }
  bool factor() {
    if (i < s.size() && s[i] == '(') {
      ++i;
      if (!expr() || i >= s.size() || s[i] != ')') return false;
      ++i;
      return true;
    }
    return number();
  }
  bool term() {
    if (!factor()) return false;
    while (i < s.size() && (s[i] == '*' || s[i] == '/')) {
      ++i;
      if (!factor()) return false;
    }
    return true;
  }
  bool expr() {
    if (!term()) return false;
    while (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      ++i;
      if (!term()) return false;
    }
    return true;
  }
  bool whole() { return expr() && i == s.size(); }
};

TEST(Gbnf, RandomWalksParse) {
  Compiler* compiler = test::llama3_compiler();
  if (compiler == nullptr) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  core::Xoshiro256 rng(7);
  auto json = compiler->grammar(kJsonGrammar);
  ASSERT_TRUE(json.is_ok()) << json.status().to_string();
  auto arith = compiler->grammar(R"g(root ::= expr
expr ::= term (("+" | "-") term)*
term ::= factor (("*" | "/") factor)*
factor ::= [0-9]+ | "(" expr ")")g");
  ASSERT_TRUE(arith.is_ok()) << arith.status().to_string();
  const char* regular = R"g(root ::= date "T" time ("Z" | [+-] [0-9]{2} ":" [0-9]{2})
date ::= [0-9]{4} "-" [0-9]{2} "-" [0-9]{2}
time ::= [0-9]{2} ":" [0-9]{2} (":" [0-9]{2})?)g";
  auto stamp = compiler->grammar(regular);
  ASSERT_TRUE(stamp.is_ok()) << stamp.status().to_string();
  auto re = schema::Regex::compile(
      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})");
  ASSERT_TRUE(re.is_ok());
  int complete = 0;
  for (int walk = 0; walk < 40; ++walk) {
    test::WalkOptions o;
    o.max_tokens = 200;
    const test::Walk j = test::random_walk(*json, rng, o);
    ASSERT_FALSE(j.stuck) << j.error;
    if (j.complete) {
      ++complete;
      EXPECT_FALSE(nlohmann::json::parse(j.text, nullptr, false).is_discarded()) << j.text;
    }
    o.closing_bias = 0;
    const test::Walk a = test::random_walk(*arith, rng, o);
    ASSERT_FALSE(a.stuck) << a.error;
    if (a.complete) {
      EXPECT_TRUE(Arith{a.text}.whole()) << a.text;
    }
    const test::Walk t = test::random_walk(*stamp, rng, o);
    ASSERT_FALSE(t.stuck) << t.error;
    ASSERT_TRUE(t.complete);
    EXPECT_TRUE(re->full_match(t.text)) << t.text;
  }
  EXPECT_GT(complete, 10);
  EXPECT_TRUE(test::accepts_text(*json, R"({"a": [1, 2.5e3, "x\n"], "b": {"c": null}})"));
  EXPECT_FALSE(test::accepts_text(*json, R"({"a": [1, 2.5e3, "x\n"], "b": {"c": nul}})"));
}

}  // namespace
}  // namespace mlxs::guidance
