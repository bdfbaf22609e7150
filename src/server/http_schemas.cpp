#include "server/http_schemas.h"

#include <mutex>
#include <optional>

namespace mlxs::server {

using core::ErrorCode;
using core::Json;

core::Result<HttpSchemas> HttpSchemas::compile(std::span<const HttpDocument> documents) {
  // Every document by its $id first, so any of them may $ref the others.
  schema::DocumentMap by_uri;
  std::vector<std::pair<std::string, Json>> parsed;
  for (const HttpDocument& doc : documents) {
    const std::string name(doc.name);
    MLXS_ASSIGN_OR_RETURN(Json json,
                          core::parse_json(doc.text, name + ".json", ErrorCode::kConfigError));
    const std::string uri = std::string(kHttpSchemaBaseUri) + name + ".json";
    if (!json.is_object() || json.value("$id", std::string()) != uri) {
      return core::make_error(ErrorCode::kConfigError, "{}.json: $id must be {}", name, uri);
    }
    by_uri.emplace(uri, json);
    parsed.emplace_back(name, std::move(json));
  }
  HttpSchemas set;
  for (auto& [name, json] : parsed) {
    schema::CompileOptions options;
    options.base_uri = std::string(kHttpSchemaBaseUri) + name + ".json";
    options.documents = &by_uri;
    options.error_code = ErrorCode::kConfigError;
    options.max_errors = 32;
    auto compiled = schema::Schema::compile(json, options);
    if (!compiled.is_ok()) return compiled.status().with_context(name + ".json");
    set.entries_.push_back(Entry{name, std::move(json), std::move(compiled).value()});
  }
  return set;
}

core::Result<const HttpSchemas*> HttpSchemas::embedded() {
  static std::once_flag once;
  static std::optional<core::Result<HttpSchemas>> compiled;
  std::call_once(once, [] { compiled.emplace(compile(embedded_http_documents())); });
  if (!compiled->is_ok()) return compiled->status();
  return &compiled->value();
}

const HttpSchemas::Entry* HttpSchemas::find(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const Json* HttpSchemas::document(std::string_view name) const {
  const Entry* e = find(name);
  return e == nullptr ? nullptr : &e->document;
}

std::vector<std::string> HttpSchemas::names() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.name);
  return out;
}

BodyCheck HttpSchemas::check(std::string_view name, const Json& body) const {
  BodyCheck out;
  const Entry* e = find(name);
  if (e == nullptr) {
    out.valid = false;
    out.failures.push_back({"", "schema", "no request document for this endpoint"});
    out.summary = "no request document for this endpoint";
    return out;
  }
  if (e->schema.is_valid(body)) return out;
  const schema::ValidationResult result = e->schema.validate(body);
  out.valid = false;
  for (const auto& err : result.errors) {
    out.failures.push_back({err.instance_path, err.keyword, err.message});
  }
  out.summary = result.summary();
  return out;
}

std::vector<std::string> HttpSchemas::unknown_fields(std::string_view name,
                                                     const Json& body) const {
  std::vector<std::string> out;
  const Entry* e = find(name);
  if (e == nullptr || !body.is_object()) return out;
  const auto props = e->document.find("properties");
  for (const auto& [key, value] : body.items()) {
    if (props == e->document.end() || !props->contains(key)) out.push_back(key);
  }
  return out;
}

}  // namespace mlxs::server
