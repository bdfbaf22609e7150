#pragma once
// JSON Schema (draft 2020-12 and draft 7): compile a schema document once,
// validate many instances against it, concurrently. Validation returns every
// failure with its instance path, schema path, a machine code and a one-line
// message (../shared/DESIGN.md §3.4).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "schema/node.h"
#include "schema/regex.h"

namespace mlxs::schema {

// Documents that $ref may name by absolute URI (e.g. "http://localhost:1234/x.json").
using DocumentMap = std::map<std::string, core::Json, std::less<>>;

struct CompileOptions {
  // Used when the document has no "$schema".
  Draft default_draft = Draft::kDraft2020_12;
  // "format" is an annotation by default (2020-12 §7.2); true makes the known
  // formats assertions. Unknown formats always pass.
  bool format_assertion = false;
  // contentEncoding (base64) / contentMediaType (application/json) as
  // assertions; draft 7 allows it, 2020-12 makes them annotations.
  bool content_assertion = false;
  // The code of compile errors (kConfigError for configuration schemas).
  core::ErrorCode error_code = core::ErrorCode::kInvalidParams;
  // The retrieval URI of the document, the base of its relative $ids.
  std::string base_uri;
  // Other documents by absolute URI; not owned, read during compile() only.
  const DocumentMap* documents = nullptr;

  // Hostile-input bounds. Compile: nesting of the schema document, nodes and
  // regex size in all. Validate: nested evaluations (instance depth x $ref chains), total
  // evaluations, errors reported.
  int max_schema_depth = 256;
  std::size_t max_nodes = 200000;
  RegexOptions regex;                       // per pattern
  std::size_t max_regex_total = 2'000'000;  // instructions + class ranges, all patterns
  int max_eval_depth = 512;
  std::uint64_t max_eval_steps = 10'000'000;
  std::size_t max_errors = 100;
};

struct ValidationError {
  std::string instance_path;  // JSON pointer into the instance ("" is the root)
  std::string schema_path;    // absolute keyword location ("#/properties/a/type")
  std::string keyword;        // machine code: "type", "required", "pattern", …
  std::string message;        // one line, no instance data beyond a short excerpt
};

struct ValidationResult {
  bool valid = true;
  std::vector<ValidationError> errors;
  bool truncated = false;  // more errors existed than max_errors

  // One line: "valid", or "3 errors: /a: expected integer, got string; …".
  std::string summary() const;
  // An error Status (kInvalidParams unless `code`) carrying summary(); ok when valid.
  core::Status to_status(core::ErrorCode code = core::ErrorCode::kInvalidParams) const;
};

class Schema {
 public:
  static core::Result<Schema> compile(const core::Json& document,
                                      const CompileOptions& options = {});

  ValidationResult validate(const core::Json& instance) const;
  // The same decision without building errors (faster).
  bool is_valid(const core::Json& instance) const;

  // The compiled graph, read-only (for guidance/).
  NodeId root() const;
  const Node& node(NodeId id) const;
  const std::vector<Node>& nodes() const;
  const std::vector<Resource>& resources() const;
  const CompileOptions& options() const;

  struct Compiled;  // defined in compiled.h

 private:
  explicit Schema(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
  std::shared_ptr<const Compiled> compiled_;  // immutable, so copies share it across threads
};

}  // namespace mlxs::schema
