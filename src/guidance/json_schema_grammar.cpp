#include "guidance/json_schema_grammar.h"

#include <unordered_map>

#include <nlohmann/json.hpp>

#include "guidance/schema_emitter.h"
#include "schema/schema.h"

namespace mlxs::guidance {
namespace {

using Ordered = nlohmann::ordered_json;

core::Result<std::shared_ptr<const Grammar>> build(const core::Json& document,
                                                   const Ordered* ordered,
                                                   const JsonSchemaOptions& options,
                                                   TerminalTable& terminals) {
  schema::CompileOptions co;
  co.default_draft = options.default_draft;
  co.error_code = core::ErrorCode::kGuidanceError;
  auto compiled = schema::Schema::compile(document, co);
  if (!compiled.is_ok()) {
    return core::Status(core::ErrorCode::kGuidanceError, compiled.status().message());
  }
  const schema::Schema& s = *compiled;
  // Definition order of "properties", read from the order-preserving parse.
  std::unordered_map<schema::NodeId, std::vector<std::string>> orders;
  const auto order = [&](schema::NodeId id) -> const std::vector<std::string>* {
    if (ordered == nullptr) return nullptr;
    if (auto it = orders.find(id); it != orders.end()) return &it->second;
    std::vector<std::string>& names = orders[id];
    const std::string& loc = s.node(id).location;
    if (loc.empty() || loc[0] != '#') return nullptr;
    try {
      const Ordered& at = ordered->at(Ordered::json_pointer(loc.substr(1)));
      if (const auto p = at.find("properties"); p != at.end() && p->is_object()) {
        for (auto it = p->begin(); it != p->end(); ++it) names.push_back(it.key());
      }
    } catch (const std::exception&) {
      return nullptr;  // a location the pointer syntax cannot reach: name order
    }
    return &names;
  };
  SchemaLowering lowering(s, order, options.lowering, &terminals);
  GrammarBuilder builder;
  SchemaEmitter emitter(lowering, terminals, options.whitespace, builder);
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t root, emitter.emit(Expr::node(s.root())));
  auto grammar = builder.build(root);
  if (!grammar.is_ok()) {
    return core::Status(core::ErrorCode::kGuidanceError,
                        "#: the schema matches no JSON value that can be generated");
  }
  return grammar;
}

}  // namespace

core::Result<std::shared_ptr<const Grammar>> json_schema_grammar(std::string_view schema_text,
                                                                 const JsonSchemaOptions& options,
                                                                 TerminalTable& terminals) {
  auto doc = core::parse_json(schema_text, "schema", core::ErrorCode::kGuidanceError);
  if (!doc.is_ok()) return std::move(doc).take_status();
  Ordered ordered;
  try {
    ordered = Ordered::parse(schema_text);
  } catch (const std::exception&) {
    return build(*doc, nullptr, options, terminals);
  }
  return build(*doc, &ordered, options, terminals);
}

core::Result<std::shared_ptr<const Grammar>> json_schema_grammar(const core::Json& schema,
                                                                 const JsonSchemaOptions& options,
                                                                 TerminalTable& terminals) {
  return build(schema, nullptr, options, terminals);
}

}  // namespace mlxs::guidance
