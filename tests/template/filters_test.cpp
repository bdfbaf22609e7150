// Filters (jinja2's built-ins, transformers' tojson) and the Python methods
// templates call on strings, dicts and lists.

#include <gtest/gtest.h>

#include "render_util.h"

namespace mlxs::template_ {
namespace {

using testing::err;
using testing::r;

TEST(TemplateFilters, StringFilters) {
  EXPECT_EQ(r("{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'abc'|upper }}|{{ 'ABC'|lower }}|"
              "{{ 'hello world'|capitalize }}|{{ 'hello wORLD-foo(bar'|title }}|{{ "
              "'abc'|replace('b', 'X') }}|"
              "{{ 'aaa'|replace('a', 'b', 2) }}|{{ none|string }}|{{ 5|trim }}"),
            "x|hi|ABC|abc|Hello world|Hello World-Foo(Bar|aXc|bba|None|5");
  EXPECT_EQ(r("{{ 'a<b>&\"\\''|e }}|{{ '<x>'|safe }}|{{ 5|escape }}"),
            "a&lt;b&gt;&amp;&#34;&#39;|<x>|5");
  EXPECT_EQ(r("{{ 'foo bar baz qux'|truncate(9) }}|{{ 'foo bar baz qux'|truncate(9, true) }}|"
              "{{ 'foo bar baz qux'|truncate(11) }}|{{ 'one two, three!'|wordcount }}|{{ "
              "'x'|center(5) }}|"),
            "foo...|foo ba...|foo bar baz qux|3|  x  |");
  EXPECT_EQ(
      r("{{ t|indent(2) }}|{{ t|indent(2, true) }}|{{ t|indent('> ', first=true, blank=true) }}",
        R"({"t": "a\n\nb"})"),
      "a\n\n  b|  a\n\n  b|> a\n> \n> b");
  EXPECT_EQ(r("{{ '%s is %d'|format('x', 4) }}|{{ 'a b'|urlencode }}|{{ 1234567|filesizeformat }}"),
            "x is 4|a%20b|1.2 MB");
}

TEST(TemplateFilters, EscapeAndSafeGiveMarkup) {
  // markupsafe's Markup escapes the plain string it is combined with by +/%.
  EXPECT_EQ(
      r("{{ ['<a>'|e, 'x'|safe] }}|{{ '<' + 'b'|safe }}|{{ ('<'|safe) + '>' }}|{{ ('<'|e)|e }}|"
        "{{ ('%s<'|safe) % '>' }}|{{ '<'|e ~ '>' }}"),
      "[Markup('&lt;a&gt;'), Markup('x')]|&lt;b|<&gt;|&lt;|&gt;<|&lt;>");
}

TEST(TemplateFilters, SequenceFilters) {
  EXPECT_EQ(
      r("{{ [1, 2, 3]|join(', ') }}|{{ ['a', 'b']|first }}|{{ ['a', 'b']|last }}|{{ []|first }}|"
        "{{ [3, 1, 2]|sort }}|{{ [3, 1, 2]|sort(reverse=true) }}|{{ ['b', 'A', 'a']|sort }}|"
        "{{ [1, 2, 2, 1]|unique|list }}|{{ [1, 2, 3]|reverse|list }}|{{ 'abc'|reverse }}|{{ [1, 2, "
        "3]|sum }}|"
        "{{ [1, 2, 3]|max }}|{{ [1, 2, 3]|min }}|{{ 'ab'|list }}|{{ {'a': 1}|list }}|{{ "
        "'abc'|length }}"),
      "1, 2, 3|a|b||[1, 2, 3]|[3, 2, 1]|['A', 'a', 'b']|[1, 2]|[3, 2, 1]|cba|6|3|1|['a', "
      "'b']|['a']|3");
  EXPECT_EQ(r("{{ [1, 2, 3, 4, 5]|batch(2)|list }}|{{ [1, 2, 3, 4, 5]|slice(2)|list }}|"
              "{{ {'b': 1, 'a': 2}|dictsort }}|{{ {'b': 1, 'a': 2}|dictsort(by='value', "
              "reverse=true) }}"),
            "[[1, 2], [3, 4], [5]]|[[1, 2, 3], [4, 5]]|[('a', 2), ('b', 1)]|[('a', 2), ('b', 1)]");
}

TEST(TemplateFilters, MapSelectReject) {
  const char* ctx = R"({"m": [{"role": "user", "content": "u"}, {"role": "system", "content": "s"},
                              {"role": "assistant", "content": "a", "tool_calls": [1]}]})";
  EXPECT_EQ(r("{{ m|map(attribute='role')|join(',') }}|{{ m|selectattr('role', 'equalto', "
              "'user')|list|length }}|"
              "{{ m|rejectattr('role', 'equalto', 'user')|map(attribute='content')|list }}|"
              "{{ m|selectattr('tool_calls', 'defined')|map(attribute='role')|first }}|"
              "{{ m|selectattr('role', 'in', ['user', 'system'])|list|length }}",
              ctx),
            "user,system,assistant|1|['s', 'a']|assistant|2");
  EXPECT_EQ(r("{{ [1, 2, 3, 4]|select('odd')|list }}{{ [1, 2, 3, 4]|reject('odd')|list }}"
              "{{ ['a', 'b']|map('upper')|list }}{{ [0, 1, '', 'x']|select|list }}"
              "{{ [{'a': 1}, {}]|map(attribute='a', default='D')|list }}{{ [1, 2, 3]|select('>', "
              "1)|list }}"),
            "[1, 3][2, 4]['A', 'B'][1, 'x'][1, 'D'][2, 3]");
  // select/map give generators: no len(), as in jinja2.
  EXPECT_EQ(err("{{ [1]|select('odd')|length }}"),
            "line 1, column 22: object of type 'generator' has no len()");
}

TEST(TemplateFilters, GeneratorsAreSinglePassAndFailLazily) {
  const char* ctx =
      R"({"m": [{"role": "user", "c": "a"}, {"role": "system"}, {"role": "user", "c": "b"}]})";
  // select/map/... return Python generators: a second pass sees nothing.
  EXPECT_EQ(r("{% set u = m|selectattr('role', 'equalto', 'user') %}{{ u|list|length }}{{ "
              "u|list|length }}",
              ctx),
            "20");
  EXPECT_EQ(
      r("{% set u = m|map(attribute='role') %}{{ u|first }}|{{ 'user' in u }}|{{ u|list }}", ctx),
      "user|True|[]");  // first, then `in` up to the match, took everything
  // Always truthy, even when empty.
  EXPECT_EQ(r("{% if m|selectattr('role', 'equalto', 'nobody') %}truthy{% endif %}", ctx),
            "truthy");
  // An error inside the generator surfaces only when it is consumed.
  EXPECT_EQ(r("{% set g = m|map(attribute='x.y') %}unused", ctx), "unused");
  EXPECT_EQ(err("{{ m|map(attribute='x.y')|list }}", ctx),
            "line 1, column 27: 'dict object' has no attribute 'x'");
  EXPECT_EQ(r("{% set r = [1, 2, 3]|reverse %}{{ r|list }}{{ r|list }}"), "[3, 2, 1][]");
}

TEST(TemplateFilters, Conversions) {
  EXPECT_EQ(r("{{ 3.7|int }}{{ '42'|int }}{{ 'x'|int }}{{ 'x'|int(7) }}{{ '0x1A'|int(0, 16) }}{{ "
              "'3.9'|int }}"
              "{{ '12'|float }}{{ 'abc'|float }}{{ true|int }}{{ none|int }}"),
            "3420726312.00.010");
  EXPECT_EQ(r("{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} "
              "{{ 2.9|round(method='floor') }} {{ 5|round }} {{ -3|abs }} {{ -3.5|abs }}"),
            "2.0 4.0 2.67 3.0 2.0 5 3 3.5");
  EXPECT_EQ(r("{{ x|default('d') }}{{ none|default('d') }}{{ ''|default('d', true) }}{{ 0|d(1, "
              "boolean=true) }}"),
            "dNoned1");
}

TEST(TemplateFilters, TojsonMatchesPythonJsonDumps) {
  EXPECT_EQ(r("{{ x|tojson }}",
              R"({"x": {"z": 1, "a": [1, 2.5, null, true], "c": {"d": "\u00e9\"\n"}}})"),
            R"({"z": 1, "a": [1, 2.5, null, true], "c": {"d": "é\"\n"}})");
  EXPECT_EQ(r("{{ x|tojson(indent=2) }}", R"({"x": {"a": 1, "b": [1, {}], "c": []}})"),
            "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    {}\n  ],\n  \"c\": []\n}");
  EXPECT_EQ(r("{{ {'a': 1, 'b': 2}|tojson(separators=(',', ':')) }}{{ {'b': 1, 'a': "
              "2}|tojson(sort_keys=true) }}"
              "{{ '\xC3\xA9\xF0\x9F\x98\x80'|tojson(ensure_ascii=true) }}{{ '\x01\x7f'|tojson }}"),
            R"({"a":1,"b":2}{"a": 2, "b": 1}"\u00e9\ud83d\ude00""\u0001)"
            "\x7f\"");
  EXPECT_EQ(r("{{ [1.0, 1e100, -1e-7, 3.14, 100.0, 1e16]|tojson }}"),
            "[1.0, 1e+100, -1e-07, 3.14, 100.0, 1e+16]");
  EXPECT_EQ(err("{{ foo|tojson }}"),
            "line 1, column 8: Object of type Undefined is not JSON serializable");
}

TEST(TemplateMethods, StringMethods) {
  EXPECT_EQ(r("{{ ' a b  c '.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a,b,c'.split(',', 1) }}"
              "{{ 'a,b,c'.rsplit(',', 1) }}{{ '  a b  c  '.split(none, 1) }}{{ "
              "'l1\\nl2\\r\\nl3'.splitlines() }}"),
            "['a', 'b', 'c']['a', 'b', '', 'c']['a', 'b,c']['a,b', 'c']['a', 'b  c  ']['l1', 'l2', "
            "'l3']");
  EXPECT_EQ(
      r("{{ '\\n\\nx\\n'.strip() }}|{{ 'xyhixy'.strip('xy') }}|{{ '  a'.lstrip() }}|{{ "
        "'a\\n'.rstrip('\\n') }}|"
        "{{ 'abc'.startswith('a') }}{{ 'abc'.endswith('bc') }}{{ 'abc'.startswith(('x', 'a')) }}|"
        "{{ 'hello'.find('l') }}{{ 'hello'.rfind('l') }}{{ 'hello'.find('z') }}|{{ "
        "'aXbXc'.count('X') }}|"
        "{{ '-'.join(['a', 'b']) }}"),
      "x|hi|a|a|TrueTrueTrue|23-1|2|a-b");
  EXPECT_EQ(r("{{ 'Hello World'.upper() }}{{ 'hello world'.title() }}{{ 'hELLO'.capitalize() }}"
              "{{ 'abc'.replace('b', 'B') }}{{ '5'.zfill(3) }}{{ 'ab'.center(6, '*') }}{{ "
              "'a=b=c'.partition('=') }}"
              "{{ '123'.isdigit() }}"),
            "HELLO WORLDHello WorldHelloaBc005**ab**('a', '=', 'b=c')True");
  EXPECT_EQ(r("{{ '{} and {}'.format('a', 'b') }}|{{ '{name}!'.format(name='Bo') }}|"
              "{{ '{:>6}|{:.2f}|{:05d}|{:,}'.format('ab', 3.14159, 42, 1234567) }}"),
            "a and b|Bo!|    ab|3.14|00042|1,234,567");
  EXPECT_EQ(r("{{ '%s is %d years and %.2f' % ('Bob', 42, 3.14159) }}|{{ '%(a)s-%(b)r' % {'a': 1, "
              "'b': 'x'} }}"),
            "Bob is 42 years and 3.14|1-'x'");
}

TEST(TemplateMethods, UnicodeCaseMappingMatchesPython) {
  EXPECT_EQ(r("{{ 'stra\xC3\x9F"
              "e'.upper() }} {{ '\xCE\xA3\xCE\x91\xCE\xA3'.lower() }} {{ '\xC3\xA9"
              "cole'.title() }}"),
            "STRASSE \xCF\x83\xCE\xB1\xCF\x82 \xC3\x89"
            "cole");
}

TEST(TemplateMethods, DictAndListMethods) {
  EXPECT_EQ(r("{{ x.keys()|list }}{{ x.values()|list }}{{ x.items()|list }}{{ [1, 2, 1].count(1) }}"
              "{{ [1, 2].index(2) }}",
              R"({"x": {"b": 1, "a": [2]}})"),
            "['b', 'a'][1, [2]][('b', 1), ('a', [2])]21");
}

}  // namespace
}  // namespace mlxs::template_
