// Every `chat` entry of ../shared/fixtures/tokenizers/*.json: entries with
// error=false must render to exactly `rendered`; entries with error=true must
// fail with TemplateError containing `error_message`. Works on any file of
// that format (other conversations, other tokenizers).

#include <gtest/gtest.h>

#include "chat_fixtures.h"
#include "template/chat_config.h"

namespace mlxs::template_ {
namespace {

std::string first_difference(const std::string& want, const std::string& got) {
  std::size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  const std::size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) +
         "\n  want: " + OrderedJson(want.substr(from, 120)).dump() +
         "\n  got:  " + OrderedJson(got.substr(from, 120)).dump();
}

TEST(TemplateParity, EveryChatEntryOfEveryTokenizerFixture) {
  const auto fixtures = testing::chat_fixtures();
  ASSERT_FALSE(fixtures.empty()) << "no tokenizer fixture with chat entries";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.name);
    ASSERT_TRUE(f.error.empty()) << f.error;
    auto config = load_chat_config(f.model_dir);
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto formatter = ChatFormatter::create(std::move(config).value());
    ASSERT_TRUE(formatter.is_ok()) << formatter.status().to_string();
    int passed = 0;
    for (const auto& entry : f.doc["chat"]) {
      const std::string name = entry.value("name", std::string("?"));
      SCOPED_TRACE(name);
      ChatRequest request;
      request.messages = entry["messages"];
      request.tools = entry.contains("tools") ? entry["tools"] : OrderedJson(nullptr);
      request.documents = entry.contains("documents") ? entry["documents"] : OrderedJson(nullptr);
      request.add_generation_prompt = entry.value("add_generation_prompt", false);
      if (entry.contains("extra_kwargs") && entry["extra_kwargs"].is_object()) {
        request.extra_kwargs = entry["extra_kwargs"];
      }
      auto rendered = formatter->render(request);
      if (entry.value("error", false)) {
        ASSERT_FALSE(rendered.is_ok())
            << "expected an error, rendered " << OrderedJson(*rendered).dump();
        EXPECT_EQ(rendered.status().code(), core::ErrorCode::kTemplateError);
        const std::string want = entry.value("error_message", std::string());
        EXPECT_NE(rendered.status().message().find(want), std::string::npos)
            << rendered.status().message() << "\n  should contain: " << want;
        if (rendered.status().message().find(want) != std::string::npos) ++passed;
        continue;
      }
      ASSERT_TRUE(rendered.is_ok()) << rendered.status().to_string();
      const std::string want = entry["rendered"].get<std::string>();
      EXPECT_EQ(*rendered, want) << first_difference(want, *rendered);
      if (*rendered == want) ++passed;
    }
    std::printf("[ parity   ] %s: %d/%zu chat entries\n", f.name.c_str(), passed,
                f.doc["chat"].size());
  }
}

}  // namespace
}  // namespace mlxs::template_
