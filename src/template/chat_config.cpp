#include "template/chat_config.h"

#include <algorithm>
#include <filesystem>

#include "core/json_util.h"

namespace mlxs::template_ {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxConfigBytes = 64u << 20;
constexpr std::size_t kMaxTemplateBytes = 4u << 20;

core::Status config_error(std::string message) {
  return core::Status(core::ErrorCode::kTemplateError, std::move(message));
}

// A special token is a string or an AddedToken object {"content": ...}.
std::optional<std::string> token_text(const OrderedJson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    const auto it = v.find("content");
    if (it != v.end() && it->is_string()) return it->get<std::string>();
  }
  return std::nullopt;
}

core::Result<OrderedJson> parse_ordered(const std::string& text, const std::string& name) {
  if (core::json_nesting_depth(text) > 512) return config_error(name + ": nested too deeply");
  auto doc = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return config_error(name + ": not valid JSON");
  return doc;
}

void set_template(ChatTemplateConfig& config, const std::string& name, std::string source) {
  for (auto& [n, s] : config.templates) {
    if (n == name) {
      s = std::move(source);
      return;
    }
  }
  config.templates.emplace_back(name, std::move(source));
}

}  // namespace

const std::string* ChatTemplateConfig::find(std::string_view name) const {
  for (const auto& [n, s] : templates) {
    if (n == name) return &s;
  }
  return nullptr;
}

core::Result<ChatTemplateConfig> parse_chat_config(const OrderedJson& doc) {
  if (!doc.is_object()) return config_error("tokenizer_config.json: not a JSON object");
  ChatTemplateConfig config;
  if (const auto it = doc.find("chat_template"); it != doc.end() && !it->is_null()) {
    if (it->is_string()) {
      config.templates.emplace_back("default", it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& entry : *it) {
        const auto name = entry.is_object() ? entry.find("name") : entry.end();
        const auto tmpl = entry.is_object() ? entry.find("template") : entry.end();
        if (!entry.is_object() || name == entry.end() || tmpl == entry.end() ||
            !name->is_string() || !tmpl->is_string()) {
          return config_error(
              "tokenizer_config.json: chat_template entries must be {\"name\", \"template\"} "
              "strings");
        }
        set_template(config, name->get<std::string>(), tmpl->get<std::string>());
      }
    } else {
      return config_error("tokenizer_config.json: chat_template must be a string or a list");
    }
  }
  static constexpr const char* kNamed[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                           "pad_token", "cls_token", "mask_token"};
  for (const char* key : kNamed) {
    if (const auto it = doc.find(key); it != doc.end()) {
      if (auto text = token_text(*it)) config.special_tokens[key] = *text;
    }
  }
  if (const auto it = doc.find("additional_special_tokens"); it != doc.end() && it->is_array()) {
    OrderedJson list = OrderedJson::array();
    for (const auto& t : *it) {
      if (auto text = token_text(t)) list.push_back(*text);
    }
    config.special_tokens["additional_special_tokens"] = std::move(list);
  }
  if (const auto it = doc.find("extra_special_tokens"); it != doc.end() && it->is_object()) {
    for (auto e = it->begin(); e != it->end(); ++e) {
      if (auto text = token_text(e.value())) config.special_tokens[e.key()] = *text;
    }
  }
  if (config.special_tokens.contains("bos_token"))
    config.bos_token = config.special_tokens["bos_token"].get<std::string>();
  if (config.special_tokens.contains("eos_token"))
    config.eos_token = config.special_tokens["eos_token"].get<std::string>();
  if (const auto it = doc.find("add_bos_token"); it != doc.end() && it->is_boolean())
    config.add_bos_token = it->get<bool>();
  if (const auto it = doc.find("add_eos_token"); it != doc.end() && it->is_boolean())
    config.add_eos_token = it->get<bool>();
  return config;
}

core::Result<ChatTemplateConfig> load_chat_config(const std::string& model_dir) {
  const fs::path dir(model_dir);
  ChatTemplateConfig config;
  std::error_code ec;
  if (fs::exists(dir / "tokenizer_config.json", ec)) {
    MLXS_ASSIGN_OR_RETURN(auto text, core::read_file((dir / "tokenizer_config.json").string(),
                                                     "tokenizer_config.json", kMaxConfigBytes));
    MLXS_ASSIGN_OR_RETURN(auto doc, parse_ordered(text, "tokenizer_config.json"));
    MLXS_ASSIGN_OR_RETURN(config, parse_chat_config(doc));
  }
  // Newer checkpoints keep templates in their own files, which win.
  if (fs::exists(dir / "chat_template.json", ec)) {
    MLXS_ASSIGN_OR_RETURN(auto text, core::read_file((dir / "chat_template.json").string(),
                                                     "chat_template.json", kMaxTemplateBytes));
    MLXS_ASSIGN_OR_RETURN(auto doc, parse_ordered(text, "chat_template.json"));
    if (doc.is_object() && doc.contains("chat_template") && doc["chat_template"].is_string()) {
      set_template(config, "default", doc["chat_template"].get<std::string>());
    }
  }
  if (fs::exists(dir / "chat_template.jinja", ec)) {
    MLXS_ASSIGN_OR_RETURN(auto text, core::read_file((dir / "chat_template.jinja").string(),
                                                     "chat_template.jinja", kMaxTemplateBytes));
    set_template(config, "default", std::move(text));
  }
  const fs::path extra = dir / "additional_chat_templates";
  if (fs::is_directory(extra, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(extra, ec)) {
      if (entry.path().extension() == ".jinja") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      MLXS_ASSIGN_OR_RETURN(auto text,
                            core::read_file(f.string(), f.filename().string(), kMaxTemplateBytes));
      set_template(config, f.stem().string(), std::move(text));
    }
  }
  return config;
}

core::Result<OrderedJson> chat_context(const ChatTemplateConfig& config,
                                       const ChatRequest& request) {
  OrderedJson ctx = config.special_tokens;
  if (!ctx.is_object()) ctx = OrderedJson::object();
  ctx["messages"] = request.messages;
  ctx["tools"] = request.tools;
  ctx["documents"] = request.documents;
  ctx["add_generation_prompt"] = request.add_generation_prompt;
  if (!request.extra_kwargs.is_null()) {
    if (!request.extra_kwargs.is_object())
      return config_error("extra template arguments must be a JSON object");
    for (auto it = request.extra_kwargs.begin(); it != request.extra_kwargs.end(); ++it) {
      if (it.key() == "messages" || it.key() == "tools" || it.key() == "documents" ||
          it.key() == "add_generation_prompt") {
        return config_error("render() got multiple values for keyword argument '" + it.key() + "'");
      }
      ctx[it.key()] = it.value();
    }
  }
  return ctx;
}

core::Result<ChatFormatter> ChatFormatter::create(ChatTemplateConfig config,
                                                  const CompileOptions& options) {
  ChatFormatter f;
  for (const auto& [name, source] : config.templates) {
    auto compiled = ChatTemplate::compile(source, options);
    if (!compiled) return compiled.status().with_context("chat template '" + name + "'");
    f.compiled_.emplace_back(name, std::move(compiled).value());
  }
  f.config_ = std::move(config);
  return f;
}

core::Result<const ChatTemplate*> ChatFormatter::select(const ChatRequest& request) const {
  const auto find = [&](std::string_view name) -> const ChatTemplate* {
    for (const auto& [n, t] : compiled_) {
      if (n == name) return &t;
    }
    return nullptr;
  };
  if (compiled_.empty()) return config_error("this model has no chat template");
  if (!request.template_name.empty()) {
    if (const ChatTemplate* t = find(request.template_name)) return t;
    return config_error("no chat template named '" + request.template_name + "'");
  }
  if (!request.tools.is_null()) {
    if (const ChatTemplate* t = find("tool_use")) return t;
  }
  if (const ChatTemplate* t = find("default")) return t;
  std::vector<std::string> names;
  for (const auto& [n, t] : compiled_) names.push_back(n);
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return config_error("this model has several chat templates and none is 'default'; name one of: " +
                      list);
}

core::Result<std::string> ChatFormatter::render(const ChatRequest& request,
                                                const RenderOptions& options) const {
  MLXS_ASSIGN_OR_RETURN(const ChatTemplate* tmpl, select(request));
  // The variables of chat_context(), without copying the conversation.
  ChatTemplate::Variables vars;
  const OrderedJson add_generation_prompt = request.add_generation_prompt;
  if (config_.special_tokens.is_object()) {
    for (auto it = config_.special_tokens.begin(); it != config_.special_tokens.end(); ++it) {
      if (!request.extra_kwargs.is_object() || !request.extra_kwargs.contains(it.key())) {
        vars.emplace_back(it.key(), &it.value());
      }
    }
  }
  vars.emplace_back("messages", &request.messages);
  vars.emplace_back("tools", &request.tools);
  vars.emplace_back("documents", &request.documents);
  vars.emplace_back("add_generation_prompt", &add_generation_prompt);
  if (!request.extra_kwargs.is_null()) {
    if (!request.extra_kwargs.is_object())
      return config_error("extra template arguments must be a JSON object");
    for (auto it = request.extra_kwargs.begin(); it != request.extra_kwargs.end(); ++it) {
      if (it.key() == "messages" || it.key() == "tools" || it.key() == "documents" ||
          it.key() == "add_generation_prompt") {
        return config_error("render() got multiple values for keyword argument '" + it.key() + "'");
      }
      vars.emplace_back(it.key(), &it.value());
    }
  }
  return tmpl->render(vars, options);
}

core::Result<std::string> render_chat(const ChatTemplateConfig& config, const OrderedJson& messages,
                                      const OrderedJson& tools, bool add_generation_prompt,
                                      const OrderedJson& extra_kwargs,
                                      const RenderOptions& options) {
  MLXS_ASSIGN_OR_RETURN(auto formatter, ChatFormatter::create(config));
  ChatRequest request;
  request.messages = messages;
  request.tools = tools;
  request.add_generation_prompt = add_generation_prompt;
  request.extra_kwargs = extra_kwargs;
  return formatter.render(request, options);
}

}  // namespace mlxs::template_
