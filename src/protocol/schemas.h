#pragma once
// The JSON Schema documents of the protocol (schemas/rpc/*.json, draft
// 2020-12), embedded in the binary at build time and compiled once. Every
// request's params are validated against their document before use; tests
// validate every result and notification we write against theirs.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "schema/schema.h"

namespace mlxs::protocol {

struct EmbeddedDocument {
  std::string_view name;  // file name without ".json": "generate.params"
  std::string_view text;
};
// Generated from schemas/rpc at build time.
std::span<const EmbeddedDocument> embedded_rpc_documents();

// The base URI of our documents' $id: <base><name>.json.
inline constexpr std::string_view kSchemaBaseUri = "https://mlx-serving.dev/schemas/rpc/";

class SchemaSet {
 public:
  // The embedded documents, compiled on first use (thread-safe). An error
  // here is a bug in a shipped document.
  static core::Result<const SchemaSet*> rpc();
  // From documents given by the caller (tests).
  static core::Result<SchemaSet> compile(std::span<const EmbeddedDocument> documents);

  const schema::Schema* find(std::string_view name) const;
  const core::Json* document(std::string_view name) const;
  std::vector<std::string> names() const;

  // InvalidParams with the one-line summary of every failing path.
  core::Status validate(std::string_view name, const core::Json& instance) const;
  // The failures as [{"path","keyword","message"}] (at most `max` of them).
  core::Json failures(std::string_view name, const core::Json& instance, std::size_t max = 8) const;

 private:
  struct Entry {
    std::string name;
    core::Json document;
    schema::Schema schema;
  };
  std::vector<Entry> entries_;
};

}  // namespace mlxs::protocol
