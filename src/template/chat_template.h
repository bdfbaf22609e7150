#pragma once
// A compiled chat template: the Jinja subset Hugging Face chat templates use,
// rendered byte for byte as transformers' apply_chat_template renders it
// (jinja2 immutable sandbox, trim_blocks + lstrip_blocks, loop controls,
// transformers' tojson / raise_exception / strftime_now).
//
//   auto tmpl = ChatTemplate::compile(source);        // TemplateError on bad syntax
//   auto text = tmpl->render(context);                // context: a JSON object
//
// Compile once; render() is const and safe to call from many threads.
// Every failure is core::ErrorCode::kTemplateError with "line L, column C: ...".

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_util.h"
#include "core/status.h"

namespace mlxs::template_ {

namespace ast {
struct Template;
}

// Python dicts keep insertion order, and tojson must print keys in that
// order: pass messages and tools as ordered JSON to match transformers.
using OrderedJson = nlohmann::ordered_json;

// Bounds on one render, so a hostile template cannot hang or exhaust memory.
struct RenderLimits {
  std::int64_t max_steps = 20'000'000;              // statements + expressions evaluated
  std::uint64_t max_work = std::uint64_t{1} << 30;  // bytes built or walked
  std::size_t max_output_bytes = 64u << 20;
  int max_call_depth = 64;    // nested macro calls
  int max_value_depth = 256;  // nesting of lists/dicts built
};

struct RenderOptions {
  RenderLimits limits;
  // The wall clock strftime_now() reads (local time, like Python's
  // datetime.now()); empty means std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> now;
};

struct CompileOptions {
  int max_depth = 100;  // nesting of statements and expressions
  std::size_t max_source_bytes = 4u << 20;
};

class ChatTemplate {
 public:
  static core::Result<ChatTemplate> compile(std::string_view source,
                                            const CompileOptions& options = {});

  // `context` must be an object; its members become template variables.
  core::Result<std::string> render(const OrderedJson& context,
                                   const RenderOptions& options = {}) const;
  // Same, for sorted-key JSON (key order is then alphabetical in tojson).
  core::Result<std::string> render(const core::Json& context,
                                   const RenderOptions& options = {}) const;
  // Variables given one by one, without first copying them into one document.
  using Variables = std::vector<std::pair<std::string, const OrderedJson*>>;
  core::Result<std::string> render(const Variables& variables,
                                   const RenderOptions& options = {}) const;

  const std::string& source() const;

 private:
  struct Compiled;
  explicit ChatTemplate(std::shared_ptr<const Compiled> compiled)
      : compiled_(std::move(compiled)) {}
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace mlxs::template_
