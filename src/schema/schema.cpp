#include "schema/schema.h"

#include <fmt/format.h>

#include "schema/compiled.h"
#include "schema/excerpt.h"
#include "schema/validator.h"

namespace mlxs::schema {

core::Result<Schema> Schema::compile(const core::Json& document, const CompileOptions& options) {
  MLXS_ASSIGN_OR_RETURN(auto compiled, compile_schema(document, options));
  return Schema(std::move(compiled));
}

ValidationResult Schema::validate(const core::Json& instance) const {
  ValidationResult result;
  result.valid = evaluate(*compiled_, instance, &result);
  return result;
}

bool Schema::is_valid(const core::Json& instance) const {
  return evaluate(*compiled_, instance, nullptr);
}

NodeId Schema::root() const {
  return compiled_->root;
}
const Node& Schema::node(NodeId id) const {
  return compiled_->nodes.at(id);
}
const std::vector<Node>& Schema::nodes() const {
  return compiled_->nodes;
}
const std::vector<Resource>& Schema::resources() const {
  return compiled_->resources;
}
const CompileOptions& Schema::options() const {
  return compiled_->options;
}

std::string ValidationResult::summary() const {
  if (valid) return "valid";
  constexpr std::size_t kShown = 3;
  std::string out = errors.size() == 1 ? "1 error: " : fmt::format("{} errors: ", errors.size());
  if (truncated) out = fmt::format("more than {} errors: ", errors.size());
  for (std::size_t i = 0; i < errors.size() && i < kShown; ++i) {
    if (i > 0) out += "; ";
    const ValidationError& e = errors[i];
    // A pointer keeps property names as they are, newlines included; the
    // summary is one line.
    out += e.instance_path.empty() ? "(root)" : one_line(e.instance_path);
    out += ": " + e.message;
  }
  if (errors.size() > kShown) out += fmt::format("; and {} more", errors.size() - kShown);
  if (errors.empty()) out += "invalid";
  return out;
}

core::Status ValidationResult::to_status(core::ErrorCode code) const {
  if (valid) return core::Status::ok();
  return core::Status(code, summary());
}

}  // namespace mlxs::schema
