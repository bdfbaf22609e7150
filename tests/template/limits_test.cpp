// A hostile template cannot hang, exhaust memory or the stack, or leak:
// steps, work, output, macro depth, value nesting and parse nesting are all
// bounded, and each bound fails with a TemplateError. Also: renders of one
// compiled template from many threads agree.

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "render_util.h"

namespace mlxs::template_ {
namespace {

using testing::err;
using testing::r;

RenderOptions small_limits() {
  RenderOptions o;
  o.limits.max_steps = 200000;
  o.limits.max_work = 8u << 20;
  o.limits.max_output_bytes = 1u << 20;
  return o;
}

bool contains(const std::string& s, std::string_view what) {
  return s.find(what) != std::string::npos;
}

TEST(TemplateLimits, StepLimitStopsRunawayLoops) {
  const auto e =
      err("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "{}",
          small_limits());
  EXPECT_TRUE(contains(e, "limit")) << e;
  const auto steps =
      err("{% for i in range(100000) %}{% for j in range(3) %}{{ j }}{% endfor %}{% endfor %}",
          "{}", small_limits());
  EXPECT_TRUE(contains(steps, "step limit")) << steps;
}

TEST(TemplateLimits, MacroRecursionIsBounded) {
  const auto e = err("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
  EXPECT_TRUE(contains(e, "maximum macro call depth exceeded")) << e;
}

TEST(TemplateLimits, OutputAndWorkAreBounded) {
  auto e = err("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "{}", small_limits());
  EXPECT_TRUE(contains(e, "limit")) << e;
  // Doubling a string or a list fails before it can take the machine.
  e =
      err("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% "
          "endfor %}",
          "{}", small_limits());
  EXPECT_FALSE(e.empty());
  e =
      err("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% "
          "endfor %}",
          "{}", small_limits());
  EXPECT_TRUE(contains(e, "work limit")) << e;
  e = err("{{ 'x' * 1000000000000 }}", "{}", small_limits());
  EXPECT_TRUE(contains(e, "work limit")) << e;
  e =
      err("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}{% "
          "endfor %}"
          "{{ ns.l == ns.l[0] }}{{ ns.l|tojson }}",
          "{}", small_limits());
  EXPECT_TRUE(contains(e, "limit")) << e;
}

TEST(TemplateLimits, DeepValuesAreRefused) {
  const auto e =
      err("{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% "
          "endfor %}");
  EXPECT_TRUE(contains(e, "nested too deeply")) << e;
}

TEST(TemplateLimits, DeepSourceNestingIsACompileError) {
  std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_TRUE(contains(err(deep), "nested too deeply"));
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_TRUE(contains(err(ifs), "nested too deeply"));
  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  EXPECT_TRUE(contains(err(chain + " }}"), "nested too deeply"));
  std::string nots = "{{ ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  EXPECT_TRUE(contains(err(nots + "x }}"), "nested too deeply"));
}

TEST(TemplateLimits, CyclesThroughNamespacesPrintAndDoNotLeak) {
  // Python prints the inner occurrence as {...}; LeakSanitizer checks the cycle is freed.
  EXPECT_EQ(r("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"),
            "<Namespace {'me': <Namespace {...}>}>");
  EXPECT_EQ(
      r("{% macro m() %}x{% endmacro %}{% set ns = namespace(f=m) %}{% set ns.ns = ns %}{{ m() }}"),
      "x");
}

TEST(TemplateLimits, ConcurrentRendersOfOneTemplateAgree) {
  auto tmpl = ChatTemplate::compile(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{{ m.role|upper }}:{{ m.content|trim }}|{% endfor %}{{ ns.n }}{{ messages|tojson }}");
  ASSERT_TRUE(tmpl.is_ok());
  const auto ctx = OrderedJson::parse(R"({"messages": [{"role": "user", "content": " a "},
                                                       {"role": "assistant", "content": "b"}]})");
  const auto want = tmpl->render(ctx);
  ASSERT_TRUE(want.is_ok());
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto got = tmpl->render(ctx);
        if (!got.is_ok() || *got != *want) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(TemplateLimits, BadContextIsAnErrorNotACrash) {
  auto tmpl = ChatTemplate::compile("{{ x }}");
  ASSERT_TRUE(tmpl.is_ok());
  EXPECT_FALSE(tmpl->render(OrderedJson::array()).is_ok());
  EXPECT_FALSE(tmpl->render(OrderedJson::parse(R"({"x": 18446744073709551615})")).is_ok());
  std::string deep(2000, '[');
  deep += std::string(2000, ']');
  EXPECT_FALSE(tmpl->render(OrderedJson{{"x", OrderedJson::parse(deep)}}).is_ok());
}

}  // namespace
}  // namespace mlxs::template_
