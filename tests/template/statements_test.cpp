// Statements: if/elif/else, for (loop variables, dict iteration, filters,
// else, break/continue, recursion), set (namespace, tuples, blocks), macros
// and call blocks, filter blocks, with, and jinja2's scoping rules.

#include <gtest/gtest.h>

#include "render_util.h"

namespace mlxs::template_ {
namespace {

using testing::err;
using testing::r;

constexpr const char* kMessages =
    R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
                     {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}]})";

TEST(TemplateStatements, IfElifElse) {
  EXPECT_EQ(r("{% if x %}a{% elif y %}b{% else %}c{% endif %}", R"({"x": 0, "y": 1})"), "b");
  EXPECT_EQ(r("{% if x %}a{% elif y %}b{% else %}c{% endif %}", R"({})"), "c");
  EXPECT_EQ(r("{% if x is defined and x %}a{% endif %}", R"({"x": [1]})"), "a");
}

TEST(TemplateStatements, ForExposesLoopVariables) {
  EXPECT_EQ(
      r("{% for m in messages %}{{ loop.index }}/{{ loop.length }}{{ loop.index0 }}{{ loop.first }}"
        "{{ loop.last }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}",
        kMessages),
      "1/40TrueFalse43 2/41FalseFalse32 3/42FalseFalse21 4/43FalseTrue10 ");
  EXPECT_EQ(
      r("{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{{ loop.previtem }}|{{ loop.nextitem }};"
        "{% endfor %}"),
      "a|2;b1|3;a2|;");
  EXPECT_EQ(r("{% for a in [[1, 2], [3]] %}{% for b in a %}{{ loop.depth }}{{ b }}{% endfor %}{{ "
              "loop.index }}"
              "{% endfor %}"),
            "11121132");  // depth only grows in recursive loops
}

TEST(TemplateStatements, ForFiltersItemsAndHasElse) {
  EXPECT_EQ(
      r("{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.content }}{% endfor %}",
        kMessages),
      "1U12A13U2");
  EXPECT_EQ(r("{% for m in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(r("{% for m in [1] if m > 5 %}x{% else %}none{% endfor %}"), "none");
}

TEST(TemplateStatements, ForIteratesDictsStringsAndUnpacks) {
  EXPECT_EQ(r("{% for k in d %}{{ k }}{% endfor %}", R"({"d": {"b": 1, "a": 2}})"), "ba");
  EXPECT_EQ(
      r("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", R"({"d": {"b": 1, "a": [2]}})"),
      "b=1;a=[2];");
  EXPECT_EQ(r("{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}", R"({"d": {"x": 1}})"), "x1");
  EXPECT_EQ(r("{% for c in 'h\xC3\xA9' %}[{{ c }}]{% endfor %}"), "[h][\xC3\xA9]");
  EXPECT_EQ(r("{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}"), "37");
  EXPECT_EQ(r("{% for x in undefined_name %}x{% endfor %}done"), "done");
}

TEST(TemplateStatements, BreakAndContinue) {
  EXPECT_EQ(r("{% for i in range(10) %}{% if i == 5 %}{% break %}{% endif %}{% if i is odd %}{% "
              "continue %}"
              "{% endif %}{{ i }}{% endfor %}"),
            "024");
  EXPECT_EQ(err("{% break %}"), "line 1, column 4: 'break' is only allowed inside a loop");
}

TEST(TemplateStatements, RecursiveLoops) {
  EXPECT_EQ(
      r("{% for item in tree recursive %}[{{ item.n }}{% if item.c %}{{ loop(item.c) }}{% endif %}]"
        "{% endfor %}",
        R"({"tree": [{"n": 1, "c": [{"n": 2, "c": []}]}, {"n": 3}]})"),
      "[1[2]][3]");
}

TEST(TemplateStatements, SetAssignsNamesTuplesAndBlocks) {
  EXPECT_EQ(r("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}"), "12(3, 4)");
  EXPECT_EQ(r("{% set x %}  block {{ 1 + 1 }} {% endset %}[{{ x }}]"), "[  block 2 ]");
  EXPECT_EQ(r("{% set x | upper | trim %}  block {% endset %}[{{ x }}]"), "[BLOCK]");
  EXPECT_EQ(err("{% set x.y = 1 %}"),
            "line 1, column 8: cannot assign attribute on non-namespace object");
}

TEST(TemplateStatements, NamespacesCarryStateOutOfLoops) {
  EXPECT_EQ(r("{% set ns = namespace(x=0, y='a') %}{% for i in range(4) %}{% set ns.x = ns.x + i "
              "%}{% endfor %}"
              "{{ ns.x }}{{ ns.y }}"),
            "6a");
  EXPECT_EQ(r("{% set ns = namespace(items=[]) %}{% for i in range(3) %}{% set ns.items = ns.items "
              "+ [i] %}"
              "{% endfor %}{{ ns.items }}"),
            "[0, 1, 2]");
}

TEST(TemplateStatements, LoopBodiesAreScopedPerIteration) {
  // jinja2: a set inside a loop neither survives the loop nor the iteration.
  EXPECT_EQ(
      r("{% set x = 'outer' %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}"),
      "[outer][outer]outer");
  EXPECT_EQ(
      r("{% for i in [1, 2] %}{% if i == 1 %}{% set y = 'one' %}{% endif %}{{ y }};{% endfor %}"),
      "one;;");
  EXPECT_EQ(r("{% for i in [1, 2] %}{{ i }}{% endfor %}{{ i }}"), "12");
  // `if` opens no scope.
  EXPECT_EQ(r("{% if true %}{% set y = 1 %}{% endif %}{{ y }}"), "1");
}

TEST(TemplateStatements, NamesAssignedLaterStartUndefinedInNestedScopes) {
  // jinja2 binds names per scope at compile time (see src/template/scopes.h).
  const char* ctx = R"({"n": 3})";
  EXPECT_EQ(r("[{{ n }}]{% set n = 5 %}[{{ n }}]", ctx), "[3][5]");
  EXPECT_EQ(r("{% for i in [1] %}[{{ n }}]{% endfor %}{% set n = 5 %}", ctx), "[]");
  EXPECT_EQ(r("{% for i in [1] %}[{{ n }}]{% endfor %}[{{ n }}]{% set n = 5 %}", ctx), "[3][3]");
  EXPECT_EQ(r("{% macro m() %}[{{ n }}]{% endmacro %}{{ m() }}{% set n = 5 %}{{ m() }}", ctx),
            "[][5]");
  EXPECT_EQ(
      r("{% if false %}{% set n = 1 %}{% endif %}{% for i in [1] %}[{{ n }}]{% endfor %}", ctx),
      "[3]");
  EXPECT_EQ(r("{% filter upper %}{% set y = 'f' %}{% endfilter %}[{{ y }}]"), "[]");
  EXPECT_EQ(r("{% set x %}{% set y = 1 %}{% endset %}[{{ y }}]"), "[]");
}

TEST(TemplateStatements, MacrosWithDefaultsVarargsKwargsAndRecursion) {
  EXPECT_EQ(r("{% macro m(a, b='B', c=none) %}<{{ a }}|{{ b }}|{{ c }}>{% endmacro %}{{ m(1) }}{{ "
              "m(1, 2, 3) }}"
              "{{ m(a=5, c='x') }}"),
            "<1|B|None><1|2|3><5|B|x>");
  EXPECT_EQ(
      r("{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}"),
      "1(2, 3){'k': 4}");
  EXPECT_EQ(r("{% macro f(n) %}{% if n <= 1 %}1{% else %}{{ n * f(n - 1)|int }}{% endif %}{% "
              "endmacro %}{{ f(5) }}"),
            "120");
  EXPECT_EQ(r("{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}"), "G");
  EXPECT_EQ(r("{% macro m(a, b=a ~ '!') %}{{ b }}{% endmacro %}{{ m('x') }}"), "x!");
  EXPECT_EQ(err("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
            "line 1, column 34: macro 'm' takes not more than 1 argument(s)");
  EXPECT_EQ(err("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}"),
            "line 1, column 34: macro 'm' takes no keyword argument 'b'");
}

TEST(TemplateStatements, CallBlocksPassACaller) {
  EXPECT_EQ(r("{% macro list(items) %}<ul>{% for i in items %}{{ caller(i) }}{% endfor %}</ul>{% "
              "endmacro %}"
              "{% call(x) list([1, 2]) %}<li>{{ x }}</li>{% endcall %}"),
            "<ul><li>1</li><li>2</li></ul>");
}

TEST(TemplateStatements, FilterBlocksWithAndGeneration) {
  EXPECT_EQ(r("{% filter upper %}abc {{ 'def' }}{% endfilter %}"), "ABC DEF");
  EXPECT_EQ(r("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"), "3[]");
  EXPECT_EQ(r("{% generation %}gen {{ 1 }}{% endgeneration %}"), "gen 1");
  EXPECT_EQ(r("{% block body %}in block{% endblock %}"), "in block");
}

TEST(TemplateStatements, UnsupportedAndMalformedTagsFailWithLocation) {
  EXPECT_EQ(
      err("{% include 'x.html' %}"),
      "line 1, column 4: 'include' is not supported: a chat template cannot load other templates");
  EXPECT_EQ(err("x\n{% endif %}"), "line 2, column 4: Encountered unknown tag 'endif'.");
  EXPECT_EQ(err("{% if x %}"),
            "line 1, column 11: Unexpected end of template. Jinja was looking for the following "
            "tags: 'elif' or "
            "'else' or 'endif'. The innermost block that needs to be closed is 'if'.");
  EXPECT_EQ(err("{% do x %}"), "line 1, column 4: Encountered unknown tag 'do'.");
}

}  // namespace
}  // namespace mlxs::template_
