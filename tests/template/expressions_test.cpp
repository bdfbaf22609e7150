// Expressions with Python's semantics: literals and their printed form,
// arithmetic, comparisons, `in`, logic, the ternary, attribute/item access,
// slicing, tests and jinja2's Undefined.

#include <gtest/gtest.h>

#include "render_util.h"

namespace mlxs::template_ {
namespace {

using testing::err;
using testing::r;

TEST(TemplateExpressions, LiteralsPrintAsPythonStrDoes) {
  EXPECT_EQ(r("{{ none }}|{{ true }}|{{ False }}|{{ 42 }}|{{ 1.0 }}|{{ 'x' }}"),
            "None|True|False|42|1.0|x");
  EXPECT_EQ(r("{{ [1, 'a', none, [true]] }}{{ (1,) }}{{ () }}{{ {'k': (1, 2)} }}"),
            "[1, 'a', None, [True]](1,)(){'k': (1, 2)}");
  EXPECT_EQ(r(R"({{ ["it's", 'say "x"', 'both\'"', '\n\t\x01'] }})"),
            R"(["it's", 'say "x"', 'both\'"', '\n\t\x01'])");
}

TEST(TemplateExpressions, FloatsPrintAsPythonRepr) {
  EXPECT_EQ(r("{{ 1 / 3 }} {{ 2 / 2 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} "
              "{{ -0.0 }} "
              "{{ 0.1 + 0.2 }} {{ 1.5e-10 }}"),
            "0.3333333333333333 1.0 1e+20 1e+16 1000000000000000.0 0.0001 1e-05 -0.0 "
            "0.30000000000000004 1.5e-10");
}

TEST(TemplateExpressions, ArithmeticFollowsPython) {
  EXPECT_EQ(
      r("{{ 1 + 2 * 3 - 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} "
        "{{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 3 ** 2 }}"),
      "5.0 3 -4 1 2 1024 0.5 3.0 0.5 64");  // jinja2's ** is left-associative
  EXPECT_EQ(
      r("{{ 'ab' * 3 }}{{ [1] * 2 }}{{ 3 * 'x' }}{{ 'a' + 'b' }}{{ [1] + [2] }}{{ 1 + true }}"),
      "ababab[1, 1]xxxab[1, 2]2");
  EXPECT_EQ(r("{{ 'a' ~ 1 ~ none ~ true ~ [1] ~ undefined_name }}"), "a1NoneTrue[1]");
  EXPECT_EQ(r("{{ messages|length - 1 }}", R"({"messages": [1, 2, 3]})"), "2");
}

TEST(TemplateExpressions, ArithmeticErrorsAreTypeErrors) {
  EXPECT_EQ(err("{{ 'a' + 1 }}"),
            "line 1, column 8: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(err("{{ 1 + 'a' }}"),
            "line 1, column 6: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(err("{{ 1 / 0 }}"), "line 1, column 6: division by zero");
  EXPECT_EQ(err("{{ -[1] }}"), "line 1, column 4: bad operand type for unary -: 'list'");
  EXPECT_EQ(err("{{ 9223372036854775807 + 1 }}"),
            "line 1, column 24: integer overflow (templates compute with 64-bit integers)");
}

TEST(TemplateExpressions, ComparisonsAndMembership) {
  EXPECT_EQ(
      r("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} "
        "{{ true == 1 }} {{ none == none }} {{ (1, 2) == [1, 2] }} {{ {'x': 1} == {'x': 1} }}"),
      "True False True True True True True False True");
  EXPECT_EQ(r("{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} }} "
              "{{ 'x' in undefined_name }}"),
            "True True True True False");
  EXPECT_EQ(err("{{ 1 < 'a' }}"),
            "line 1, column 8: '<' not supported between instances of 'int' and 'str'");
  EXPECT_EQ(err("{{ 1 in 'abc' }}"),
            "line 1, column 9: 'in <string>' requires string as left operand, not int");
  EXPECT_EQ(err("{{ 'a' in none }}"),
            "line 1, column 11: argument of type 'NoneType' is not iterable");
}

TEST(TemplateExpressions, LogicReturnsOperandsAndTernaryDefaultsToUndefined) {
  EXPECT_EQ(r("{{ true and 'x' }}|{{ false and 'x' }}|{{ 0 or 'y' }}|{{ '' or [] }}|{{ not none "
              "}}|{{ not 'a' }}"),
            "x|False|y|[]|True|False");
  EXPECT_EQ(r("{{ 'yes' if 1 else 'no' }}{{ 'yes' if 0 else 'no' }}[{{ 'yes' if 0 }}]{{ 'a' if 0 "
              "else 'b' if 0 "
              "else 'c' }}"),
            "yesno[]c");
}

TEST(TemplateExpressions, AttributeItemAndSlice) {
  const char* ctx =
      R"({"m": [{"role": "user", "content": "hi"}], "d": {"items": 1, "k": {"b": [10, 20]}}})";
  EXPECT_EQ(
      r("{{ m[0].role }}{{ m[0]['content'] }}{{ m[-1].content }}{{ m.0.role }}[{{ m[5] }}]", ctx),
      "userhihiuser[]");
  EXPECT_EQ(r("{{ d.k.b.1 }}{{ d['items'] }}{{ d.get('items') }}{{ d.get('nope') }}{{ "
              "d.get('nope', 5) }}",
              ctx),
            "2011None5");
  // Attribute lookup prefers the dict's methods, as in Python.
  EXPECT_EQ(r("{{ d.items is callable }}", ctx), "True");
  EXPECT_EQ(
      r("{{ [1, 2, 3][::-1] }}{{ 'hello'[1:3] }}{{ 'hello'[::-1] }}{{ [1, 2, 3, 4, 5][1::2] }}"
        "{{ 'h\xC3\xA9llo'[1] }}{{ 'abc'[-5:10] }}{{ [1, 2, 3][5:] }}{{ 'abcdef'[4:1:-2] }}"),
      "[3, 2, 1]elolleh[2, 4]\xC3\xA9"
      "abc[]ec");
  EXPECT_EQ(err("{{ [1][::0] }}"), "line 1, column 7: slice step cannot be zero");
}

TEST(TemplateExpressions, UndefinedBehavesAsJinja2Default) {
  EXPECT_EQ(r("[{{ foo }}]{{ foo is defined }}{{ foo is undefined }}{{ foo|length }}{{ "
              "foo|default('d') }}"),
            "[]FalseTrue0d");
  EXPECT_EQ(r("{% if foo %}x{% else %}falsy{% endif %}"), "falsy");
  EXPECT_EQ(err("{{ foo.bar }}"), "line 1, column 7: 'foo' is undefined");
  EXPECT_EQ(err("{{ foo + 1 }}"), "line 1, column 8: 'foo' is undefined");
  EXPECT_EQ(err("{{ foo() }}"), "line 1, column 4: 'foo' is undefined");
  EXPECT_EQ(err("{{ m[3].role }}", R"({"m": []})"),
            "line 1, column 8: list object has no element 3");
  EXPECT_EQ(err("{{ d.x.y }}", R"({"d": {}})"),
            "line 1, column 7: 'dict object' has no attribute 'x'");
  // A missing attribute of None is Undefined (printing it is fine).
  EXPECT_EQ(r("[{{ none.x }}]"), "[]");
}

TEST(TemplateExpressions, Tests) {
  EXPECT_EQ(r("{{ x is mapping }}{{ x is iterable }}{{ x is sequence }}{{ x is string }}{{ 'a' is "
              "string }}"
              "{{ 1 is number }}{{ 1.0 is float }}{{ 1 is integer }}{{ true is integer }}{{ true "
              "is boolean }}"
              "{{ none is none }}{{ false is false }}{{ range is callable }}",
              R"({"x": {"a": 1}})"),
            "TrueTrueTrueFalseTrueTrueTrueTrueFalseTrueTrueTrueTrue");
  EXPECT_EQ(
      r("{{ 3 is divisibleby 3 }}{{ 4 is even }}{{ 4 is odd }}{{ 'a' is in 'abc' }}{{ 1 is eq 1 }}"
        "{{ 1 is gt 0 }}{{ 'ABC' is upper }}{{ 'abc' is lower }}{{ none is sameas none }}"
        "{{ 'upper' is filter }}{{ 'odd' is test }}{{ 'nope' is filter }}{{ x is not none }}",
        R"({"x": 1})"),
      "TrueTrueFalseTrueTrueTrueTrueTrueTrueTrueTrueFalseTrue");
}

TEST(TemplateExpressions, GlobalsRangeDictNamespace) {
  EXPECT_EQ(r("{{ range(5)|list }}{{ range(1, 10, 3)|list }}{{ range(5, 0, -2)|list }}"),
            "[0, 1, 2, 3, 4][1, 4, 7][5, 3, 1]");
  EXPECT_EQ(r("{{ dict(a=1, b=2) }}{{ dict({'x': 1}, y=2) }}{{ namespace(a=1) }}"),
            "{'a': 1, 'b': 2}{'x': 1, 'y': 2}<Namespace {'a': 1}>");
  EXPECT_EQ(
      err("{{ range(200000)|length }}"),
      "line 1, column 4: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
}

TEST(TemplateExpressions, RaiseExceptionFailsWithTheMessage) {
  EXPECT_EQ(err("x{{ raise_exception('Conversation roles must alternate') }}"),
            "line 1, column 5: Conversation roles must alternate");
}

TEST(TemplateExpressions, SandboxRefusesMutation) {
  EXPECT_EQ(err("{% set x = [1] %}{{ x.append(2) }}"),
            "line 1, column 22: access to attribute 'append' of 'list' object is unsafe.");
}

TEST(TemplateExpressions, UnknownFiltersAndTestsFailAtCompileTimeUnlessGuarded) {
  EXPECT_EQ(err("{{ 1 }}\n{{ x | nosuch }}"), "line 2, column 8: unknown filter 'nosuch'");
  EXPECT_EQ(err("{{ x is nosuch }}"), "line 1, column 9: unknown test 'nosuch'");
  // Inside an if, jinja2 only fails when the filter actually runs.
  EXPECT_EQ(r("{% if 'from_json' is filter %}{{ x | from_json }}{% else %}no{% endif %}"), "no");
  EXPECT_EQ(err("{% if true %}{{ x | from_json }}{% endif %}"),
            "line 1, column 21: No filter named 'from_json' found.");
}

}  // namespace
}  // namespace mlxs::template_
