// Any text is either a template that compiles and renders within its
// bounds, or a TemplateError: never a crash, a hang or a leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "template/chat_template.h"

namespace {

const mlxs::template_::OrderedJson& context() {
  static const auto ctx = mlxs::template_::OrderedJson::parse(R"({
    "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "enable_thinking": false,
    "documents": null,
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "  Hi \u00e9 \ud83d\ude00\n"},
      {"role": "assistant", "content": "<think>\nx\n</think>\n\nHello", "reasoning_content": null,
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "f", "arguments": {"a": 1, "b": [1.5, true, null]}}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "{\"ok\": 1}"},
      {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}]
  })");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tmpl = mlxs::template_::ChatTemplate::compile(source);
  if (!tmpl) {
    if (tmpl.status().code() != mlxs::core::ErrorCode::kTemplateError) __builtin_trap();
    return 0;
  }
  mlxs::template_::RenderOptions options;
  options.limits.max_steps = 100000;
  options.limits.max_work = 4u << 20;
  options.limits.max_output_bytes = 1u << 20;
  options.now = [] {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  };
  auto out = tmpl->render(context(), options);
  if (!out.is_ok() && out.status().code() != mlxs::core::ErrorCode::kTemplateError)
    __builtin_trap();
  if (out.is_ok() && out->size() > options.limits.max_output_bytes) __builtin_trap();
  return 0;
}
