// Template text and whitespace control, as jinja2 lexes it with
// trim_blocks=True and lstrip_blocks=True (transformers' settings).

#include <gtest/gtest.h>

#include "render_util.h"
#include "template/lexer.h"

namespace mlxs::template_ {
namespace {

using testing::err;
using testing::r;

TEST(TemplateLexer, TrimBlocksRemovesTheNewlineAfterABlockTag) {
  EXPECT_EQ(r("{% if true %}\nx\n{% endif %}\ny"), "x\ny");
  // Not after a variable tag.
  EXPECT_EQ(r("{{ 'a' }}\nb"), "a\nb");
}

TEST(TemplateLexer, LstripBlocksRemovesIndentBeforeBlockTags) {
  EXPECT_EQ(r("a\n  {% if true %}\n  x\n  {% endif %}\nb"), "a\n  x\nb");
  EXPECT_EQ(r("\t{% if true %}x{% endif %}"), "x");
  // Only whitespace between the line start and the tag is stripped.
  EXPECT_EQ(r("a {% if true %}x{% endif %}"), "a x");
  // Variable tags keep their indent.
  EXPECT_EQ(r("  {{ 'x' }}"), "  x");
  // Comments are lstripped and trimmed like blocks.
  EXPECT_EQ(r("  {# note #}\nx"), "x");
}

TEST(TemplateLexer, MinusStripsAllWhitespaceAndPlusKeepsIt) {
  EXPECT_EQ(r("a  {%- if true -%}  x  {%- endif -%}  b"), "axb");
  EXPECT_EQ(r("a\n  {{- 'b' -}}\n  c"), "abc");
  EXPECT_EQ(r("a\n    {%+ if true %}x{% endif +%}\nb"), "a\n    x\nb");
  EXPECT_EQ(r("a {#- c -#} b {#+ keep +#} c"), "ab  c");
}

TEST(TemplateLexer, NewlinesAreNormalisedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(r("line1\r\nline2\rline3\n"), "line1\nline2\nline3");
  EXPECT_EQ(r("x\n\n"), "x\n");
}

TEST(TemplateLexer, RawBlocksAreTextAndHonourWhitespaceControl) {
  EXPECT_EQ(r("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
  EXPECT_EQ(r("{%- raw -%}  {% y %}  {%- endraw %}z"), "{% y %}z");
  EXPECT_NE(err("{% raw %}never closed"), "");
}

TEST(TemplateLexer, StringLiteralsUsePythonEscapes) {
  EXPECT_EQ(r(R"({{ 'a\nb' }})"), "a\nb");
  EXPECT_EQ(r(R"({{ "tab\there" }})"), "tab\there");
  EXPECT_EQ(r(R"({{ '\u00e9\x41\101' }})"),
            "\xC3\xA9"
            "AA");
  EXPECT_EQ(r(R"({{ 'it\'s' ~ "say \"hi\"" }})"), "it'ssay \"hi\"");
  EXPECT_EQ(r(R"({{ '\d' }})"), "\\d");  // unknown escapes stay
  EXPECT_EQ(r("{{ 'a' 'b' }}"), "ab");   // adjacent literals join
}

TEST(TemplateLexer, NumbersIncludePrefixesUnderscoresAndExponents) {
  EXPECT_EQ(r("{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 1.5e3 }} {{ 2.5 }}"),
            "31 15 5 1000 1500.0 2.5");
}

TEST(TemplateLexer, BracesInsideExpressionsDoNotEndTheTag) {
  EXPECT_EQ(r("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");
}

TEST(TemplateLexer, ErrorsCarryLineAndColumn) {
  EXPECT_EQ(err("ok\n  {{ 'unterminated }}"), "line 2, column 6: unexpected char '''");
  EXPECT_EQ(err("{# open comment"), "line 1, column 1: Missing end of comment tag");
  EXPECT_EQ(err("{{ a ) }}"), "line 1, column 6: unexpected ')'");
  EXPECT_EQ(err("{{ (a ] }}"), "line 1, column 7: unexpected ']', expected ')'");
  EXPECT_EQ(err("{{ a !b }}"), "line 1, column 6: unexpected char '!'");
  EXPECT_EQ(err("{{ a"), "line 1, column 5: unexpected end of template, expected '}}'");
}

TEST(TemplateLexer, ColumnsCountCodePoints) {
  auto tokens = tokenize("\xC3\xA9\xC3\xA9{{ x }}");
  ASSERT_TRUE(tokens.is_ok());
  EXPECT_EQ((*tokens)[1].kind, TokenKind::kVarBegin);
  EXPECT_EQ((*tokens)[1].column, 3);
}

}  // namespace
}  // namespace mlxs::template_
