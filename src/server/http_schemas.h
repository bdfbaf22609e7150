#pragma once
// The JSON Schema documents of the HTTP request bodies (schemas/http/*.json,
// draft 2020-12), embedded at build time and compiled once. Every body is
// validated against its document before use; the same documents are served
// at GET /v1/schemas/{name}.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "schema/schema.h"

namespace mlxs::server {

struct HttpDocument {
  std::string_view name;  // file name without ".json": "chat.completions"
  std::string_view text;
};
// Generated from schemas/http at build time.
std::span<const HttpDocument> embedded_http_documents();

inline constexpr std::string_view kHttpSchemaBaseUri = "https://mlx-serving.dev/schemas/http/";

// One failing path of a body.
struct BodyFailure {
  std::string path;     // JSON pointer into the body ("" is the root)
  std::string keyword;  // machine code: "type", "required", "maximum", ...
  std::string message;  // one line
};

struct BodyCheck {
  bool valid = true;
  std::vector<BodyFailure> failures;
  std::string summary;  // one line: "2 errors: /n: ...; /stop: ..."
};

class HttpSchemas {
 public:
  // The embedded documents, compiled on first use (thread-safe). An error
  // here is a bug in a shipped document.
  static core::Result<const HttpSchemas*> embedded();
  static core::Result<HttpSchemas> compile(std::span<const HttpDocument> documents);

  // The document as served (nullptr for an unknown name).
  const core::Json* document(std::string_view name) const;
  std::vector<std::string> names() const;
  // Every failing path of `body` against document `name` (an unknown name is
  // a failure at the root).
  BodyCheck check(std::string_view name, const core::Json& body) const;
  // Top-level keys of `body` that document `name` does not list.
  std::vector<std::string> unknown_fields(std::string_view name, const core::Json& body) const;

 private:
  struct Entry {
    std::string name;
    core::Json document;
    schema::Schema schema;
  };
  const Entry* find(std::string_view name) const;
  std::vector<Entry> entries_;
};

}  // namespace mlxs::server
