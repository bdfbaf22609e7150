#include "runtime/guidance_hook.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "guidance/compiler.h"
#include "guidance/matcher.h"
#include "protocol/envelope.h"
#include "runtime/loaded_model.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::runtime {

namespace {
// outlines.max_schema_size_bytes of the original's config.
constexpr std::size_t kMaxSchemaBytes = 32768;

class MatcherState final : public engine::ConstraintState {
 public:
  MatcherState(std::shared_ptr<const guidance::CompiledGrammar> g,
               std::vector<std::int32_t> stop_ids)
      : matcher_(std::move(g), std::move(stop_ids)), own_(matcher_.grammar().vocab().words()) {}

  void fill_mask(std::span<std::uint32_t> mask) override {
    // The model's vocabulary may be larger or smaller than the tokenizer's:
    // ids only one side knows are never allowed.
    matcher_.fill_mask(own_);
    const std::size_t n = std::min(mask.size(), own_.size());
    std::copy_n(own_.begin(), n, mask.begin());
    std::fill(mask.begin() + static_cast<std::ptrdiff_t>(n), mask.end(), 0u);
  }
  core::Status advance(std::int32_t token) override { return matcher_.advance(token); }

 private:
  guidance::Matcher matcher_;
  std::vector<std::uint32_t> own_;
};

class MatcherConstraint final : public engine::Constraint {
 public:
  explicit MatcherConstraint(std::shared_ptr<const guidance::CompiledGrammar> g)
      : grammar_(std::move(g)) {}
  std::unique_ptr<engine::ConstraintState> start(
      std::vector<std::int32_t> stop_ids) const override {
    return std::make_unique<MatcherState>(grammar_, std::move(stop_ids));
  }

 private:
  std::shared_ptr<const guidance::CompiledGrammar> grammar_;
};

// One Compiler (vocabulary, shared terminals, compile cache) per tokenizer.
core::Result<std::shared_ptr<guidance::Compiler>> compiler_for(const tokenizer::Tokenizer& tok,
                                                               const std::string& model_id) {
  static std::mutex mutex;
  static std::map<std::pair<const tokenizer::Tokenizer*, std::string>,
                  std::shared_ptr<guidance::Compiler>>
      compilers;
  std::lock_guard lock(mutex);
  auto key = std::make_pair(&tok, model_id);
  if (auto it = compilers.find(key); it != compilers.end()) return it->second;
  MLXS_ASSIGN_OR_RETURN(auto compiler, guidance::Compiler::for_tokenizer(tok));
  if (compilers.size() >= 16) compilers.clear();
  compilers.emplace(key, compiler);
  return compiler;
}

}  // namespace

std::shared_ptr<const engine::Constraint> make_constraint(
    std::shared_ptr<const guidance::CompiledGrammar> grammar) {
  return std::make_shared<MatcherConstraint>(std::move(grammar));
}

namespace {

// The guidance object as a constraint spec (GuidanceError for a malformed one).
core::Result<guidance::ConstraintSpec> spec_of(const protocol::GuidanceParams& guidance,
                                               const std::string& prefix) {
  const auto fail = [&](const std::string& why) {
    return core::Status(core::ErrorCode::kGuidanceError, prefix + why);
  };
  guidance::ConstraintSpec spec;
  if (guidance.mode == "json_schema") {
    if (guidance.schema.is_null()) return fail("schema is required");
    if (!guidance.schema.is_object() && !guidance.schema.is_boolean()) {
      return fail("json_schema mode needs a schema object");
    }
    spec.kind = guidance::ConstraintSpec::Kind::kJsonSchema;
    spec.text = protocol::dump(guidance.schema);
  } else if (guidance.mode == "json_object") {
    if (!guidance.schema.is_null()) return fail("json_object mode takes no schema");
    spec.kind = guidance::ConstraintSpec::Kind::kJsonObject;
  } else if (guidance.mode == "regex" || guidance.mode == "grammar") {
    if (!guidance.schema.is_string())
      return fail(guidance.mode + " mode needs the " + guidance.mode + " as a string");
    spec.kind = guidance.mode == "regex" ? guidance::ConstraintSpec::Kind::kRegex
                                         : guidance::ConstraintSpec::Kind::kGrammar;
    spec.text = guidance.schema.get<std::string>();
  } else if (guidance.mode == "xml") {
    if (!guidance.schema.is_string()) return fail("xml mode needs a schema string");
    return core::Status(core::ErrorCode::kUnsupported,
                        prefix + "structured output (xml) is not supported");
  } else {
    return fail("Unsupported guidance mode: " + guidance.mode);
  }
  if (spec.text.size() > kMaxSchemaBytes) return fail("schema is larger than 32768 bytes");
  return spec;
}

}  // namespace

core::Result<GuidancePlan> prepare_guidance(const protocol::GuidanceParams& guidance,
                                            const tokenizer::Tokenizer& tokenizer,
                                            const std::string& model_id) {
  const std::string prefix = "Guidance error for " + model_id + ": ";
  MLXS_ASSIGN_OR_RETURN(guidance::ConstraintSpec spec, spec_of(guidance, prefix));
  MLXS_ASSIGN_OR_RETURN(auto compiler, compiler_for(tokenizer, model_id));
  auto compiled = compiler->compile(spec);
  if (!compiled.is_ok()) {
    return core::Status(core::ErrorCode::kGuidanceError, prefix + compiled.status().message());
  }
  return GuidancePlan{make_constraint(*compiled)};
}

core::Result<GuidancePlan> prepare_guidance(const protocol::GuidanceParams& guidance,
                                            const LoadedModel& model) {
  const std::string prefix = "Guidance error for " + model.model_id + ": ";
  if (model.tokenizer == nullptr) {
    MLXS_RETURN_IF_ERROR(spec_of(guidance, prefix).status());
    return core::Status(
        core::ErrorCode::kUnsupported,
        prefix + "structured output needs the model's tokenizer, and this model has none");
  }
  return prepare_guidance(guidance, *model.tokenizer, model.model_id);
}

}  // namespace mlxs::runtime
