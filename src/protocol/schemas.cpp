#include "protocol/schemas.h"

#include <mutex>
#include <optional>

namespace mlxs::protocol {

using core::ErrorCode;
using core::Json;

core::Result<SchemaSet> SchemaSet::compile(std::span<const EmbeddedDocument> documents) {
  // Every document by its $id first, so any of them may $ref the others.
  schema::DocumentMap by_uri;
  std::vector<std::pair<std::string, Json>> parsed;
  for (const EmbeddedDocument& doc : documents) {
    const std::string name(doc.name);
    MLXS_ASSIGN_OR_RETURN(Json json,
                          core::parse_json(doc.text, name + ".json", ErrorCode::kConfigError));
    const std::string uri = std::string(kSchemaBaseUri) + name + ".json";
    if (!json.is_object() || json.value("$id", std::string()) != uri) {
      return core::make_error(ErrorCode::kConfigError, "{}.json: $id must be {}", name, uri);
    }
    by_uri.emplace(uri, json);
    parsed.emplace_back(name, std::move(json));
  }
  SchemaSet set;
  for (auto& [name, json] : parsed) {
    schema::CompileOptions options;
    options.base_uri = std::string(kSchemaBaseUri) + name + ".json";
    options.documents = &by_uri;
    options.error_code = ErrorCode::kConfigError;
    auto compiled = schema::Schema::compile(json, options);
    if (!compiled.is_ok()) return compiled.status().with_context(name + ".json");
    set.entries_.push_back(Entry{name, std::move(json), std::move(compiled).value()});
  }
  return set;
}

core::Result<const SchemaSet*> SchemaSet::rpc() {
  static std::once_flag once;
  static std::optional<core::Result<SchemaSet>> compiled;
  std::call_once(once, [] { compiled.emplace(compile(embedded_rpc_documents())); });
  if (!compiled->is_ok()) return compiled->status();
  return &compiled->value();
}

const schema::Schema* SchemaSet::find(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.name == name) return &e.schema;
  }
  return nullptr;
}

const Json* SchemaSet::document(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.name == name) return &e.document;
  }
  return nullptr;
}

std::vector<std::string> SchemaSet::names() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.name);
  return out;
}

core::Status SchemaSet::validate(std::string_view name, const Json& instance) const {
  const schema::Schema* s = find(name);
  if (s == nullptr)
    return core::make_error(ErrorCode::kInternalError, "no schema document named {}", name);
  if (s->is_valid(instance)) return {};
  return s->validate(instance).to_status(ErrorCode::kInvalidParams);
}

Json SchemaSet::failures(std::string_view name, const Json& instance, std::size_t max) const {
  Json out = Json::array();
  const schema::Schema* s = find(name);
  if (s == nullptr) return out;
  const auto result = s->validate(instance);
  for (const auto& e : result.errors) {
    if (out.size() >= max) break;
    out.push_back({{"path", e.instance_path}, {"keyword", e.keyword}, {"message", e.message}});
  }
  return out;
}

}  // namespace mlxs::protocol
