// The linear-time regex engine: ECMAScript (u-mode) syntax, code-point
// semantics, refusal of what it cannot run in linear time, and pathological
// patterns that would make a backtracking engine take exponential time.

#include "schema/regex.h"

#include <string>

#include <gtest/gtest.h>

namespace mlxs::schema {
namespace {

Regex compile(const std::string& pattern) {
  auto re = Regex::compile(pattern);
  EXPECT_TRUE(re.is_ok()) << pattern << ": " << re.status().to_string();
  return re.is_ok() ? std::move(re).value() : Regex();
}

bool search(const std::string& pattern, const std::string& text) {
  return compile(pattern).search(text);
}
bool full(const std::string& pattern, const std::string& text) {
  return compile(pattern).full_match(text);
}

TEST(Regex, SearchIsUnanchored) {
  EXPECT_TRUE(search("b", "abc"));
  EXPECT_FALSE(search("d", "abc"));
  EXPECT_TRUE(search("", ""));
  EXPECT_TRUE(search("", "abc"));
  EXPECT_TRUE(search("^ab", "abc"));
  EXPECT_FALSE(search("^bc", "abc"));
  EXPECT_TRUE(search("bc$", "abc"));
  EXPECT_FALSE(search("ab$", "abc"));
  EXPECT_FALSE(search("^abc$", "abc\n"));  // $ is end of input only
}

// Found by schema_regex_fuzz: an empty group repeated 10^16 times compiled
// for minutes (each copy added no instruction, so the size limit never hit).
TEST(Regex, EmptyBodiesRepeatInConstantTime) {
  EXPECT_TRUE(full("(){66666666666666224}", ""));
  EXPECT_TRUE(full("a(){4000000000}b", "ab"));
  EXPECT_TRUE(full("(()){2,4000000000}x", "x"));
  EXPECT_FALSE(full("(){5}", "a"));
}

TEST(Regex, FullMatch) {
  EXPECT_TRUE(full("a+b", "aaab"));
  EXPECT_FALSE(full("a+b", "aaabc"));
  EXPECT_FALSE(full("a+b", "xaab"));
  EXPECT_TRUE(full("(ab|cd)*", ""));
  EXPECT_TRUE(full("(ab|cd)*", "abcdab"));
  EXPECT_FALSE(full("(ab|cd)*", "abc"));
}

TEST(Regex, Quantifiers) {
  EXPECT_TRUE(full("a{3}", "aaa"));
  EXPECT_FALSE(full("a{3}", "aa"));
  EXPECT_FALSE(full("a{3}", "aaaa"));
  EXPECT_TRUE(full("a{2,}", "aaaaa"));
  EXPECT_FALSE(full("a{2,}", "a"));
  EXPECT_TRUE(full("a{1,3}", "aaa"));
  EXPECT_FALSE(full("a{1,3}", "aaaa"));
  EXPECT_TRUE(full("a{0,0}", ""));
  EXPECT_TRUE(full("x?y", "y"));
  EXPECT_TRUE(full("a+?b*?", "aab"));  // lazy quantifiers match the same language
  EXPECT_TRUE(full("(a|b){2,4}c", "abac"));
  EXPECT_FALSE(full("(a|b){2,4}c", "ac"));
}

TEST(Regex, CharacterClasses) {
  EXPECT_TRUE(full("[a-c]+", "abcba"));
  EXPECT_FALSE(full("[a-c]+", "abd"));
  EXPECT_TRUE(full("[^a-c]", "d"));
  EXPECT_FALSE(full("[^a-c]", "a"));
  EXPECT_TRUE(full("[-a]+", "-a-"));
  EXPECT_TRUE(full("[a-]+", "-a-"));
  EXPECT_TRUE(full("[\\d\\s]+", "1 2\t3"));
  EXPECT_TRUE(full("[\\]\\\\]+", "]\\"));
  EXPECT_FALSE(search("[]", "anything"));              // the empty class matches nothing
  EXPECT_TRUE(full("[^]", "\n"));                      // its complement matches everything
  EXPECT_TRUE(full("[\\u00e9-\\u00eb]", "\xC3\xAA"));  // U+00EA
}

TEST(Regex, EscapesFollowEcmaScript) {
  EXPECT_TRUE(full("\\d", "7"));
  EXPECT_FALSE(full("\\d", "\xDF\x80"));  // NKO DIGIT ZERO: \d is ASCII only
  EXPECT_TRUE(full("\\w+", "az_09"));
  EXPECT_FALSE(full("\\w", "\xC3\xA9"));     // é
  EXPECT_TRUE(full("\\s", "\xE2\x80\x83"));  // EM SPACE
  EXPECT_TRUE(full("\\s", "\xEF\xBB\xBF"));  // ZERO WIDTH NO-BREAK SPACE
  EXPECT_FALSE(full("\\s", "\x01"));
  EXPECT_TRUE(full("\\t\\n\\r\\v\\f", "\t\n\r\v\f"));
  EXPECT_TRUE(full("\\cC", "\x03"));
  EXPECT_TRUE(full("\\x41\\u0042\\u{43}", "ABC"));
  EXPECT_TRUE(full("\\ud83d\\udc32", "\xF0\x9F\x90\xB2"));  // an escaped surrogate pair
  EXPECT_TRUE(full("\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\/", ".*+?()[]{}|^$/"));
  EXPECT_TRUE(full("\\0", std::string(1, '\0')));
}

TEST(Regex, DotExcludesLineTerminators) {
  EXPECT_TRUE(full(".", "a"));
  EXPECT_TRUE(full(".", "\xF0\x9F\x90\xB2"));  // one code point, four bytes
  EXPECT_FALSE(full(".", "\n"));
  EXPECT_FALSE(full(".", "\r"));
  EXPECT_FALSE(full(".", "\xE2\x80\xA8"));  // LINE SEPARATOR
}

TEST(Regex, CodePointsNotBytes) {
  EXPECT_TRUE(full("^.{3}$", "\xC3\xA9\xC3\xA9\xC3\xA9"));  // three é
  EXPECT_TRUE(full("\xF0\x9F\x90\xB2*", "\xF0\x9F\x90\xB2\xF0\x9F\x90\xB2"));
  EXPECT_FALSE(full("\xF0\x9F\x90\xB2*", "\xF0\x9F\x90\x89"));
}

TEST(Regex, UnicodeProperties) {
  EXPECT_TRUE(full("\\p{L}+",
                   "\xC3\x89"
                   "cole"));                     // École
  EXPECT_TRUE(full("\\p{Letter}", "\xD0\x96"));  // Ж
  EXPECT_FALSE(full("\\p{L}", "1"));
  EXPECT_TRUE(full("\\P{L}", "1"));
  EXPECT_TRUE(full("\\p{Lu}", "A"));
  EXPECT_FALSE(full("\\p{Lu}", "a"));
  EXPECT_TRUE(full("\\p{Nd}+", "\xE0\xA7\xAA\xE0\xA7\xA8"));  // Bengali 4 2
  EXPECT_TRUE(full("\\p{digit}", "5"));
  EXPECT_TRUE(full("\\p{gc=Zs}", " "));
  EXPECT_TRUE(full("[\\p{L}\\d]+", "a1\xC3\xA9"));
  EXPECT_TRUE(full("\\p{ASCII}+", "abc"));
  EXPECT_FALSE(Regex::compile("\\p{Script=Greek}").is_ok());  // scripts are not tabulated
  EXPECT_FALSE(Regex::compile("\\p{NoSuchThing}").is_ok());
}

TEST(Regex, WordBoundaries) {
  EXPECT_TRUE(search("\\bfoo\\b", "a foo b"));
  EXPECT_FALSE(search("\\bfoo\\b", "afoob"));
  EXPECT_TRUE(search("\\Boo\\B", "afoob"));
  EXPECT_TRUE(search("^\\b", "a"));
  EXPECT_FALSE(search("^\\b", " "));
}

TEST(Regex, GroupsAndAlternation) {
  EXPECT_TRUE(full("(?:ab)+", "abab"));
  EXPECT_TRUE(full("(?<year>\\d{4})-(?<month>\\d{2})", "2024-05"));
  EXPECT_TRUE(full("a|b|c", "c"));
  EXPECT_TRUE(full("a||b", ""));
  EXPECT_TRUE(full("(|a)+", "aa"));
}

TEST(Regex, SyntaxErrorsAreRejected) {
  for (const char* bad :
       {"(",    ")",     "[a",   "a{2",         "*a",      "a**",   "+",      "a{2,1}",   "[z-a]",
        "\\",   "\\a",   "\\-",  "(?P<n>x)",    "(?i)abc", "(?#c)", "x{",     "}",        "]",
        "\\c1", "\\u12", "\\x4", "\\u{110000}", "[\\d-z]", "\\1",   "\\k<n>", "(?<1a>x)", "\\01"}) {
    auto re = Regex::compile(bad);
    EXPECT_FALSE(re.is_ok()) << bad;
    EXPECT_FALSE(Regex::check_syntax(bad).is_ok()) << bad;
    if (!re.is_ok()) {
      EXPECT_EQ(re.status().code(), core::ErrorCode::kInvalidParams);
      EXPECT_NE(re.status().message().find("offset"), std::string::npos) << re.status().message();
    }
  }
  EXPECT_FALSE(Regex::compile("\xFF").is_ok());  // not UTF-8
}

TEST(Regex, LookaroundAndBackreferencesParseButDoNotCompile) {
  for (const char* pattern :
       {"(?=a)", "(?!a)b", "(?<=a+)b", "(?<!a)b", "(a)\\1", "(?<n>a)\\k<n>"}) {
    EXPECT_TRUE(Regex::check_syntax(pattern).is_ok()) << pattern;
    auto re = Regex::compile(pattern);
    ASSERT_FALSE(re.is_ok()) << pattern;
    EXPECT_NE(re.status().message().find("unsupported"), std::string::npos)
        << re.status().message();
  }
}

TEST(Regex, ProgramSizeIsBounded) {
  auto re = Regex::compile("(a{1000}){1000}");
  ASSERT_FALSE(re.is_ok());
  EXPECT_NE(re.status().message().find("too large"), std::string::npos);
  EXPECT_TRUE(Regex::compile("a{1000}").is_ok());
  RegexOptions small;
  small.max_program_size = 10;
  EXPECT_FALSE(Regex::compile("abcdefghijkl", small).is_ok());
  // Deep nesting is refused before it can exhaust the stack.
  EXPECT_FALSE(Regex::compile(std::string(10000, '(') + std::string(10000, ')')).is_ok());
}

// Patterns that take exponential time in a backtracking engine. Ours visits
// each (position, instruction) pair once, so these complete at once; the
// assertions are on results, the suite's timeout guards the time.
TEST(Regex, PathologicalPatternsStayLinear) {
  const std::string as(100000, 'a');
  EXPECT_FALSE(search("(a*)*b", as));
  EXPECT_FALSE(search("(a+)+b", as));
  EXPECT_FALSE(search("(a|a)*b", as));
  EXPECT_FALSE(search("(a|aa)+$b", as));
  EXPECT_TRUE(search("(a*)*", as));
  EXPECT_TRUE(full("(a*)*", as));
  EXPECT_FALSE(full("(a?){50}a{50}", std::string(49, 'a')));
  EXPECT_TRUE(full("(a?){50}a{50}", std::string(50, 'a')));
  EXPECT_TRUE(full("(x+x+)+y", std::string(5000, 'x') + "y"));
  EXPECT_FALSE(full("(x+x+)+y", std::string(5000, 'x')));
  EXPECT_FALSE(search("^(\\w+\\s?)*$", std::string(5000, 'w') + "!"));
}

TEST(Regex, InvalidUtf8InputDoesNotBreakMatching) {
  EXPECT_TRUE(full("a.b",
                   "a\xFF"
                   "b"));  // a stray byte decodes as U+FFFD
  EXPECT_FALSE(full("ab", "a\xC3"));
}

TEST(Regex, ProgramIsInspectable) {
  const Regex re = compile("a[bc]");
  ASSERT_GE(re.program().size(), 3u);
  EXPECT_EQ(re.program().back().op, RegexInst::Op::kMatch);
  EXPECT_EQ(re.program()[0].op, RegexInst::Op::kChar);
  EXPECT_TRUE(re.sets()[re.program()[0].arg].contains('a'));
  EXPECT_EQ(re.pattern(), "a[bc]");
}

TEST(CodePointSet, AddMergesAndComplements) {
  CodePointSet s;
  s.add('a', 'c');
  s.add('d', 'f');  // adjacent: merged
  s.add('x');
  ASSERT_EQ(s.ranges().size(), 2u);
  EXPECT_EQ(s.ranges()[0], (CodePointSet::Range{'a', 'f'}));
  EXPECT_TRUE(s.contains('e'));
  EXPECT_FALSE(s.contains('g'));
  const CodePointSet c = s.complement();
  EXPECT_FALSE(c.contains('a'));
  EXPECT_TRUE(c.contains('g'));
  EXPECT_TRUE(c.contains(kMaxCodePoint));
  EXPECT_EQ(c.complement(), s);
  EXPECT_TRUE(CodePointSet().complement().contains(0));
}

}  // namespace
}  // namespace mlxs::schema
