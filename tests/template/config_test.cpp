// Reading a model directory's chat templates and special tokens, choosing a
// template the way transformers does, building the render context, and the
// injectable clock behind strftime_now.

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "template/chat_config.h"
#include "testing/fixtures.h"

namespace mlxs::template_ {
namespace {
namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(TemplateConfig, ParsesAStringTemplateAndSpecialTokens) {
  auto cfg = parse_chat_config(OrderedJson::parse(R"({
      "chat_template": "{{ bos_token }}hi", "add_bos_token": true,
      "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "unk_token": null,
      "additional_special_tokens": ["<a>", {"content": "<b>"}],
      "extra_special_tokens": {"image_token": "<img>"}})"));
  ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
  ASSERT_NE(cfg->find("default"), nullptr);
  EXPECT_EQ(*cfg->find("default"), "{{ bos_token }}hi");
  EXPECT_EQ(cfg->bos_token.value_or(""), "<s>");
  EXPECT_EQ(cfg->eos_token.value_or(""), "</s>");
  EXPECT_TRUE(cfg->add_bos_token);
  EXPECT_EQ(
      cfg->special_tokens.dump(),
      R"({"bos_token":"<s>","eos_token":"</s>","additional_special_tokens":["<a>","<b>"],"image_token":"<img>"})");
}

TEST(TemplateConfig, NamedTemplatesAndSelection) {
  auto cfg = parse_chat_config(OrderedJson::parse(R"({"chat_template": [
      {"name": "default", "template": "D{{ tools is none }}"},
      {"name": "tool_use", "template": "T{{ tools|length }}"},
      {"name": "rag", "template": "R{{ documents|length }}"}]})"));
  ASSERT_TRUE(cfg.is_ok());
  auto f = ChatFormatter::create(std::move(cfg).value());
  ASSERT_TRUE(f.is_ok());
  ChatRequest req;
  EXPECT_EQ(f->render(req).value(), "DTrue");
  req.tools = OrderedJson::parse(R"([{"type": "function"}])");
  EXPECT_EQ(f->render(req).value(), "T1");  // tools pick "tool_use", as transformers does
  req.template_name = "default";
  EXPECT_EQ(f->render(req).value(), "DFalse");
  req.template_name = "rag";
  req.documents = OrderedJson::parse(R"([{"title": "a", "text": "b"}])");
  EXPECT_EQ(f->render(req).value(), "R1");
  req.template_name = "nope";
  EXPECT_EQ(f->render(req).status().code(), core::ErrorCode::kTemplateError);
}

TEST(TemplateConfig, WithoutADefaultTheNameIsRequired) {
  auto cfg = parse_chat_config(
      OrderedJson::parse(R"({"chat_template": [{"name": "a", "template": "x"}]})"));
  ASSERT_TRUE(cfg.is_ok());
  auto f = ChatFormatter::create(std::move(cfg).value());
  ASSERT_TRUE(f.is_ok());
  const auto out = f->render(ChatRequest{});
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("name one of: a"), std::string::npos);
  EXPECT_FALSE(parse_chat_config(OrderedJson::parse(R"({"chat_template": 5})")).is_ok());
}

TEST(TemplateConfig, CompileErrorsNameTheTemplate) {
  auto cfg = parse_chat_config(OrderedJson::parse(R"({"chat_template": "{% if %}"})"));
  ASSERT_TRUE(cfg.is_ok());
  const auto f = ChatFormatter::create(std::move(cfg).value());
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().code(), core::ErrorCode::kTemplateError);
  EXPECT_NE(f.status().message().find("chat template 'default'"), std::string::npos)
      << f.status().message();
}

TEST(TemplateConfig, ContextHoldsTokensMessagesAndExtraArguments) {
  ChatTemplateConfig cfg;
  cfg.special_tokens = OrderedJson{{"bos_token", "<s>"}, {"eos_token", "</s>"}};
  ChatRequest req;
  req.messages = OrderedJson::parse(R"([{"role": "user", "content": "x"}])");
  req.add_generation_prompt = true;
  req.extra_kwargs = OrderedJson{{"enable_thinking", false}, {"eos_token", "<eos>"}};
  auto ctx = chat_context(cfg, req);
  ASSERT_TRUE(ctx.is_ok());
  EXPECT_EQ(
      ctx->dump(),
      R"({"bos_token":"<s>","eos_token":"<eos>","messages":[{"role":"user","content":"x"}],"tools":null,)"
      R"("documents":null,"add_generation_prompt":true,"enable_thinking":false})");
  req.extra_kwargs = OrderedJson{{"messages", 1}};
  EXPECT_FALSE(chat_context(cfg, req).is_ok());
}

TEST(TemplateConfig, LoadsAModelDirectoryWithTemplateFiles) {
  const fs::path dir = fs::path(mlxs::testing::temp_dir()) / "chat_config_model";
  write(
      dir / "tokenizer_config.json",
      R"({"chat_template": "old", "bos_token": "<s>", "eos_token": "</s>", "add_bos_token": false})");
  auto cfg = load_chat_config(dir.string());
  ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
  EXPECT_EQ(*cfg->find("default"), "old");
  // chat_template.jinja and additional_chat_templates/ override and extend it.
  write(dir / "chat_template.jinja", "{{ bos_token }}new");
  write(dir / "additional_chat_templates" / "tool_use.jinja", "tools");
  cfg = load_chat_config(dir.string());
  ASSERT_TRUE(cfg.is_ok());
  EXPECT_EQ(*cfg->find("default"), "{{ bos_token }}new");
  ASSERT_NE(cfg->find("tool_use"), nullptr);
  EXPECT_EQ(render_chat(*cfg, OrderedJson::array(), nullptr, false).value(), "<s>new");
  write(dir / "tokenizer_config.json", "{not json");
  EXPECT_EQ(load_chat_config(dir.string()).status().code(), core::ErrorCode::kTemplateError);
}

TEST(TemplateConfig, StrftimeNowReadsTheInjectedClock) {
  setenv("TZ", "UTC", 1);
  tzset();
  auto tmpl = ChatTemplate::compile("{{ strftime_now('%d %b %Y %H:%M:%S.%f|%z%Z|%-d') }}");
  ASSERT_TRUE(tmpl.is_ok());
  RenderOptions options;
  options.now = [] {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1721995200) +
                                                 std::chrono::microseconds(42));
  };
  EXPECT_EQ(tmpl->render(OrderedJson::object(), options).value(),
            "26 Jul 2024 12:00:00.000042||26");
}

}  // namespace
}  // namespace mlxs::template_
