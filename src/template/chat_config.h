#pragma once
// What a model directory says about chat formatting (tokenizer_config.json,
// chat_template.jinja, additional_chat_templates/), and rendering a
// conversation the way transformers' apply_chat_template does.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "template/chat_template.h"

namespace mlxs::template_ {

struct ChatTemplateConfig {
  // Template sources by name; a plain string `chat_template` is "default".
  std::vector<std::pair<std::string, std::string>> templates;
  // Variables transformers passes from special_tokens_map: bos_token,
  // eos_token, unk_token, pad_token, ... (only those that are set).
  OrderedJson special_tokens = OrderedJson::object();
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  bool add_bos_token = false;
  bool add_eos_token = false;

  const std::string* find(std::string_view name) const;
};

// From a parsed tokenizer_config.json.
core::Result<ChatTemplateConfig> parse_chat_config(const OrderedJson& tokenizer_config);
// From a model directory: tokenizer_config.json, overridden by
// chat_template.jinja and additional_chat_templates/*.jinja when present.
core::Result<ChatTemplateConfig> load_chat_config(const std::string& model_dir);

struct ChatRequest {
  OrderedJson messages = OrderedJson::array();
  OrderedJson tools = nullptr;      // null: no tools (templates see None)
  OrderedJson documents = nullptr;  // null: no documents
  bool add_generation_prompt = false;
  OrderedJson extra_kwargs = OrderedJson::object();  // enable_thinking, ...
  // Empty: "tool_use" when tools are given and the model has it, else "default".
  std::string template_name;
};

// Every template of a config compiled once; render() is thread-safe.
class ChatFormatter {
 public:
  static core::Result<ChatFormatter> create(ChatTemplateConfig config,
                                            const CompileOptions& options = {});

  core::Result<std::string> render(const ChatRequest& request,
                                   const RenderOptions& options = {}) const;
  // The template transformers would pick for this request.
  core::Result<const ChatTemplate*> select(const ChatRequest& request) const;
  const ChatTemplateConfig& config() const { return config_; }

 private:
  ChatTemplateConfig config_;
  std::vector<std::pair<std::string, ChatTemplate>> compiled_;
};

// The context apply_chat_template passes: special tokens, then messages,
// tools, documents, add_generation_prompt, then the extra kwargs.
core::Result<OrderedJson> chat_context(const ChatTemplateConfig& config,
                                       const ChatRequest& request);

// One-shot convenience (compiles the template on every call).
core::Result<std::string> render_chat(const ChatTemplateConfig& config, const OrderedJson& messages,
                                      const OrderedJson& tools, bool add_generation_prompt,
                                      const OrderedJson& extra_kwargs = OrderedJson::object(),
                                      const RenderOptions& options = {});

}  // namespace mlxs::template_
