// Published chat formats rendered by templates written here in the style of
// the models' own (the model repositories' templates are not copied): Mistral
// v0.3 instruct (tokenizer v3, with function calling), Phi-3 and Qwen2.5 with
// tools. Expected strings follow the formats documented by Mistral (mistral-
// common / docs.mistral.ai), Microsoft (Phi-3 model card) and Qwen (function
// calling guide).

#include <gtest/gtest.h>

#include "template/chat_config.h"

namespace mlxs::template_ {
namespace {

constexpr const char* kMistralV3 =
    R"JINJA({#- Mistral v0.3 instruct (tokenizer v3): the system prompt goes in front of
    the last user turn, tools right before it, tool calls and results in
    their own control tokens. -#}
{%- if messages and messages[0].role == 'system' -%}
  {%- set system = messages[0].content -%}
  {%- set turns = messages[1:] -%}
{%- else -%}
  {%- set turns = messages -%}
{%- endif -%}
{%- set last = namespace(user=-1) -%}
{%- for m in turns -%}
  {%- if m.role == 'user' %}{% set last.user = loop.index0 %}{% endif -%}
{%- endfor -%}
{{- bos_token -}}
{%- for m in turns -%}
  {%- if m.role == 'user' -%}
    {%- if tools and loop.index0 == last.user -%}
      {{- '[AVAILABLE_TOOLS] ' ~ tools|tojson ~ '[/AVAILABLE_TOOLS]' -}}
    {%- endif -%}
    {%- if system is defined and loop.index0 == last.user -%}
      {{- '[INST] ' ~ system ~ '\n\n' ~ m.content ~ '[/INST]' -}}
    {%- else -%}
      {{- '[INST] ' ~ m.content ~ '[/INST]' -}}
    {%- endif -%}
  {%- elif m.role == 'assistant' and m.tool_calls -%}
    {{- '[TOOL_CALLS] [' -}}
    {%- for call in m.tool_calls -%}
      {%- set fn = call.function if call.function is defined else call -%}
      {{- '{"name": ' ~ fn.name|tojson ~ ', "arguments": ' -}}
      {{- fn.arguments if fn.arguments is string else fn.arguments|tojson -}}
      {%- if call.id is defined %}{{ ', "id": ' ~ call.id|tojson }}{% endif -%}
      {{- '}' if loop.last else '}, ' -}}
    {%- endfor -%}
    {{- ']' ~ eos_token -}}
  {%- elif m.role == 'assistant' -%}
    {{- ' ' ~ m.content|trim ~ eos_token -}}
  {%- elif m.role == 'tool' -%}
    {{- '[TOOL_RESULTS] ' ~ {'content': m.content, 'call_id': m.tool_call_id}|tojson ~ '[/TOOL_RESULTS]' -}}
  {%- else -%}
    {{- raise_exception('Mistral has no ' ~ m.role ~ ' role after the first message') -}}
  {%- endif -%}
{%- endfor -%}
)JINJA";

constexpr const char* kPhi3 =
    R"JINJA({#- Phi-3: every turn is <|role|>, a newline, the text and <|end|>. #}
{% for message in messages %}
  {% if message.role not in ['system', 'user', 'assistant'] %}
    {{- raise_exception('Phi-3 has no ' ~ message.role ~ ' role') }}
  {% endif %}
  {{- '<|' ~ message.role ~ '|>\n' ~ message.content ~ '<|end|>\n' -}}
{% endfor %}
{% if add_generation_prompt %}
  {{- '<|assistant|>\n' -}}
{% endif %}
)JINJA";

constexpr const char* kQwen25 =
    R"JINJA({#- Qwen2.5: ChatML, a default system prompt, tools in the system turn,
    <tool_call> blocks for calls and <tool_response> blocks (in a user turn)
    for results. -#}
{%- set has_system = messages|length > 0 and messages[0].role == 'system' %}
{%- if has_system %}
  {%- set system = messages[0].content %}
  {%- set turns = messages[1:] %}
{%- else %}
  {%- set system = 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' %}
  {%- set turns = messages %}
{%- endif %}
{%- if tools %}
  {{- '<|im_start|>system\n' ~ system ~ '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' }}
  {{- 'You are provided with function signatures within <tools></tools> XML tags:\n<tools>' }}
  {%- for tool in tools %}
    {{- '\n' ~ tool|tojson }}
  {%- endfor %}
  {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within '
      '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
      '<args-json-object>}\n</tool_call><|im_end|>\n' }}
{%- else %}
  {{- '<|im_start|>system\n' ~ system ~ '<|im_end|>\n' }}
{%- endif %}
{%- for m in turns %}
  {%- if m.role in ('user', 'system') %}
    {{- '<|im_start|>' ~ m.role ~ '\n' ~ m.content ~ '<|im_end|>\n' }}
  {%- elif m.role == 'assistant' %}
    {{- '<|im_start|>assistant' }}
    {%- if m.content %}{{ '\n' ~ m.content }}{% endif %}
    {%- for call in m.tool_calls or [] %}
      {%- set fn = call.function if call.function is defined else call %}
      {{- '\n<tool_call>\n{"name": "' ~ fn.name ~ '", "arguments": ' }}
      {{- fn.arguments if fn.arguments is string else fn.arguments|tojson }}
      {{- '}\n</tool_call>' }}
    {%- endfor %}
    {{- '<|im_end|>\n' }}
  {%- elif m.role == 'tool' %}
    {%- if loop.first or loop.previtem.role != 'tool' %}{{ '<|im_start|>user' }}{% endif %}
    {{- '\n<tool_response>\n' ~ m.content ~ '\n</tool_response>' }}
    {%- if loop.last or loop.nextitem.role != 'tool' %}{{ '<|im_end|>\n' }}{% endif %}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
  {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

ChatFormatter formatter(const char* source, const char* bos, const char* eos) {
  ChatTemplateConfig config;
  config.templates.emplace_back("default", source);
  config.special_tokens = OrderedJson{{"bos_token", bos}, {"eos_token", eos}};
  auto f = ChatFormatter::create(std::move(config));
  EXPECT_TRUE(f.is_ok()) << f.status().to_string();
  return std::move(f).value();
}

std::string render(const ChatFormatter& f, const char* messages, const char* tools = "null",
                   bool add_generation_prompt = false) {
  ChatRequest req;
  req.messages = OrderedJson::parse(messages);
  req.tools = OrderedJson::parse(tools);
  req.add_generation_prompt = add_generation_prompt;
  auto out = f.render(req);
  return out.is_ok() ? *out : "ERROR: " + out.status().message();
}

TEST(TemplateFormats, MistralV3Conversation) {
  const auto f = formatter(kMistralV3, "<s>", "</s>");
  // docs.mistral.ai, tokenizer V3.
  EXPECT_EQ(render(f, R"([{"role": "user", "content": "Hello, how are you?"},
                          {"role": "assistant", "content": "Fine, and you?"},
                          {"role": "user", "content": "I'm doing great!"},
                          {"role": "assistant", "content": "Glad to hear!"}])"),
            "<s>[INST] Hello, how are you?[/INST] Fine, and you?</s>[INST] I'm doing great![/INST] "
            "Glad to hear!</s>");
  // The system prompt joins the last user message.
  EXPECT_EQ(
      render(f, R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "And now?"}])"),
      "<s>[INST] Hi[/INST] Hello!</s>[INST] Be brief.\n\nAnd now?[/INST]");
}

TEST(TemplateFormats, MistralV3FunctionCalling) {
  const auto f = formatter(kMistralV3, "<s>", "</s>");
  const char* tools = R"([{"type": "function", "function": {"name": "get_current_weather",
      "description": "Get the current weather", "parameters": {"type": "object", "properties": {
      "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
      "format": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location", "format"]}}}])";
  const char* messages = R"([
      {"role": "user", "content": "What's the weather like today in Paris"},
      {"role": "assistant", "tool_calls": [{"id": "VvvODy9mT", "type": "function", "function": {
          "name": "get_current_weather", "arguments": {"location": "Paris, France", "format": "celsius"}}}]},
      {"role": "tool", "tool_call_id": "VvvODy9mT", "content": 22},
      {"role": "assistant", "content": "The current temperature in Paris, France is 22 degrees Celsius."}])";
  EXPECT_EQ(
      render(f, messages, tools),
      "<s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": "
      "\"get_current_weather\", "
      "\"description\": \"Get the current weather\", \"parameters\": {\"type\": \"object\", "
      "\"properties\": "
      "{\"location\": {\"type\": \"string\", \"description\": \"The city and state, e.g. San "
      "Francisco, CA\"}, "
      "\"format\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": "
      "[\"location\", \"format\"]}}}][/AVAILABLE_TOOLS][INST] What's the weather like today in "
      "Paris[/INST]"
      "[TOOL_CALLS] [{\"name\": \"get_current_weather\", \"arguments\": {\"location\": \"Paris, "
      "France\", "
      "\"format\": \"celsius\"}, \"id\": \"VvvODy9mT\"}]</s>[TOOL_RESULTS] {\"content\": 22, "
      "\"call_id\": "
      "\"VvvODy9mT\"}[/TOOL_RESULTS] The current temperature in Paris, France is 22 degrees "
      "Celsius.</s>");
  EXPECT_EQ(render(f, R"([{"role": "user", "content": "a"}, {"role": "critic", "content": "b"}])"),
            "ERROR: line 40, column 9: Mistral has no critic role after the first message");
}

TEST(TemplateFormats, Phi3) {
  const auto f = formatter(kPhi3, "<s>", "<|endoftext|>");
  EXPECT_EQ(
      render(f,
             R"([{"role": "user", "content": "How to explain Internet for a medieval knight?"}])",
             "null", true),
      "<|user|>\nHow to explain Internet for a medieval knight?<|end|>\n<|assistant|>\n");
  EXPECT_EQ(render(f, R"([{"role": "system", "content": "You are a helpful assistant."},
                          {"role": "user", "content": "I am going to Paris, what should I see?"},
                          {"role": "assistant", "content": "The Eiffel Tower."},
                          {"role": "user", "content": "What is so great about #1?"}])",
                   "null", true),
            "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nI am going to Paris, what "
            "should I see?<|end|>\n"
            "<|assistant|>\nThe Eiffel Tower.<|end|>\n<|user|>\nWhat is so great about "
            "#1?<|end|>\n<|assistant|>\n");
}

TEST(TemplateFormats, Qwen25WithTools) {
  const auto f = formatter(kQwen25, "", "<|im_end|>");
  EXPECT_EQ(render(f, R"([{"role": "user", "content": "Hi"}])", "null", true),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const char* tools = R"([{"type": "function", "function": {"name": "get_current_temperature",
      "description": "Get current temperature at a location.", "parameters": {"type": "object", "properties": {
      "location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
      "required": ["location"]}}}])";
  const char* messages = R"([
      {"role": "user", "content": "What's the temperature in San Francisco now? How about tomorrow?"},
      {"role": "assistant", "content": "", "tool_calls": [
          {"type": "function", "function": {"name": "get_current_temperature",
                                            "arguments": {"location": "San Francisco, CA, USA"}}},
          {"type": "function", "function": {"name": "get_temperature_date",
                                            "arguments": "{\"location\": \"San Francisco, CA, USA\", \"date\": \"2024-10-01\"}"}}]},
      {"role": "tool", "content": "{\"temperature\": 26.1, \"unit\": \"celsius\"}"},
      {"role": "tool", "content": "{\"temperature\": 25.9, \"unit\": \"celsius\"}"}])";
  EXPECT_EQ(
      render(f, messages, tools, true),
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
      "assistant.\n\n# Tools\n\n"
      "You may call one or more functions to assist with the user query.\n\nYou are provided with "
      "function "
      "signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", "
      "\"function\": {\"name\": "
      "\"get_current_temperature\", \"description\": \"Get current temperature at a location.\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"location\": {\"type\": "
      "\"string\"}, \"unit\": "
      "{\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": "
      "[\"location\"]}}}\n"
      "</tools>\n\nFor each function call, return a json object with function name and arguments "
      "within "
      "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
      "<args-json-object>}\n</tool_call><|im_end|>\n"
      "<|im_start|>user\nWhat's the temperature in San Francisco now? How about "
      "tomorrow?<|im_end|>\n"
      "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_current_temperature\", \"arguments\": "
      "{\"location\": \"San Francisco, CA, USA\"}}\n</tool_call>\n<tool_call>\n{\"name\": "
      "\"get_temperature_date\", \"arguments\": {\"location\": \"San Francisco, CA, USA\", "
      "\"date\": "
      "\"2024-10-01\"}}\n</tool_call><|im_end|>\n"
      "<|im_start|>user\n<tool_response>\n{\"temperature\": 26.1, \"unit\": "
      "\"celsius\"}\n</tool_response>\n"
      "<tool_response>\n{\"temperature\": 25.9, \"unit\": "
      "\"celsius\"}\n</tool_response><|im_end|>\n"
      "<|im_start|>assistant\n");
}

}  // namespace
}  // namespace mlxs::template_
