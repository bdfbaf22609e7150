#include "template/chat_template.h"

#include "template/ast.h"
#include "template/interpreter.h"
#include "template/lexer.h"
#include "template/parser.h"

namespace mlxs::template_ {

struct ChatTemplate::Compiled {
  std::string source;
  std::unique_ptr<ast::Template> tree;
};

namespace {

constexpr int kMaxContextDepth = 512;

core::Status context_error(std::string_view message) {
  return core::Status(core::ErrorCode::kTemplateError, "template context: " + std::string(message));
}

// JSON -> template values (Python's json.loads types), keeping key order.
template <typename J>
core::Result<Value> from_json(const J& j, int depth) {
  if (depth > kMaxContextDepth) return context_error("nested too deeply");
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) {
        return context_error("integer " + std::to_string(u) +
                             " is outside the supported 64-bit range");
      }
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j) {
        MLXS_ASSIGN_OR_RETURN(auto v, from_json(e, depth + 1));
        items.push_back(std::move(v));
      }
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) {
        MLXS_ASSIGN_OR_RETURN(auto v, from_json(it.value(), depth + 1));
        d.set(Value::string(it.key()), std::move(v));
      }
      return Value::dict(std::move(d));
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded:
      break;
  }
  return context_error("unsupported JSON value");
}

template <typename J>
core::Result<std::string> render_json(const ast::Template& tree, const J& context,
                                      const RenderOptions& options) {
  if (!context.is_object()) return context_error("must be a JSON object");
  std::vector<std::pair<std::string, Value>> vars;
  vars.reserve(context.size());
  for (auto it = context.begin(); it != context.end(); ++it) {
    MLXS_ASSIGN_OR_RETURN(auto v, from_json(it.value(), 1));
    vars.emplace_back(it.key(), std::move(v));
  }
  Interpreter interpreter(tree, options);
  return interpreter.render(std::move(vars));
}

}  // namespace

core::Result<std::string> ChatTemplate::render(const Variables& variables,
                                               const RenderOptions& options) const {
  std::vector<std::pair<std::string, Value>> vars;
  vars.reserve(variables.size());
  for (const auto& [name, json] : variables) {
    MLXS_ASSIGN_OR_RETURN(auto v, from_json(*json, 1));
    vars.emplace_back(name, std::move(v));
  }
  Interpreter interpreter(*compiled_->tree, options);
  return interpreter.render(std::move(vars));
}

core::Result<ChatTemplate> ChatTemplate::compile(std::string_view source,
                                                 const CompileOptions& options) {
  if (source.size() > options.max_source_bytes) {
    return core::make_error(core::ErrorCode::kTemplateError,
                            "template source is {} bytes, more than the {} allowed", source.size(),
                            options.max_source_bytes);
  }
  MLXS_ASSIGN_OR_RETURN(auto tokens, tokenize(source));
  ParseLimits limits;
  limits.max_depth = options.max_depth;
  MLXS_ASSIGN_OR_RETURN(auto tree, parse(tokens, limits));
  auto compiled = std::make_shared<Compiled>();
  compiled->source = std::string(source);
  compiled->tree = std::move(tree);
  return ChatTemplate(std::move(compiled));
}

core::Result<std::string> ChatTemplate::render(const OrderedJson& context,
                                               const RenderOptions& options) const {
  return render_json(*compiled_->tree, context, options);
}

core::Result<std::string> ChatTemplate::render(const core::Json& context,
                                               const RenderOptions& options) const {
  return render_json(*compiled_->tree, context, options);
}

const std::string& ChatTemplate::source() const {
  return compiled_->source;
}

}  // namespace mlxs::template_
