#include "guidance/compiler.h"

#include <fmt/format.h>

#include "guidance/gbnf.h"
#include "guidance/regex_grammar.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::guidance {
namespace {

std::string cache_key(const ConstraintSpec& spec) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}\n{}", static_cast<int>(spec.kind),
                     static_cast<int>(spec.json.whitespace),
                     static_cast<int>(spec.json.default_draft), spec.json.lowering.strict_formats,
                     spec.json.lowering.max_alternatives, spec.json.lowering.merged_first, 0,
                     spec.text);
}

}  // namespace

std::string_view constraint_kind_name(ConstraintSpec::Kind kind) {
  switch (kind) {
    case ConstraintSpec::Kind::kJsonSchema:
      return "json_schema";
    case ConstraintSpec::Kind::kJsonObject:
      return "json_object";
    case ConstraintSpec::Kind::kRegex:
      return "regex";
    case ConstraintSpec::Kind::kGrammar:
      return "grammar";
  }
  return "grammar";
}

core::Result<std::shared_ptr<Compiler>> Compiler::for_tokenizer(const tokenizer::Tokenizer& tok,
                                                                std::size_t cache_entries) {
  MLXS_ASSIGN_OR_RETURN(auto vocab, TokenVocab::from_tokenizer(tok));
  return std::make_shared<Compiler>(std::move(vocab), cache_entries);
}

Compiler::Compiler(std::shared_ptr<const TokenVocab> vocab, std::size_t cache_entries)
    : vocab_(std::move(vocab)), capacity_(cache_entries) {}

core::Result<std::shared_ptr<const Grammar>> Compiler::build(const ConstraintSpec& spec) {
  switch (spec.kind) {
    case ConstraintSpec::Kind::kJsonSchema:
      return json_schema_grammar(std::string_view(spec.text), spec.json, terminals_);
    case ConstraintSpec::Kind::kJsonObject:
      return json_schema_grammar(std::string_view("{}"), spec.json, terminals_);  // any JSON value
    case ConstraintSpec::Kind::kRegex:
      return regex_grammar(spec.text, terminals_);
    case ConstraintSpec::Kind::kGrammar:
      return gbnf_grammar(spec.text, terminals_);
  }
  return core::Status(core::ErrorCode::kGuidanceError, "unknown constraint kind");
}

core::Result<std::shared_ptr<const CompiledGrammar>> Compiler::compile(const ConstraintSpec& spec) {
  const std::string key = cache_key(spec);
  {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++stats_.hits;
      return it->second->second;
    }
    ++stats_.misses;
  }
  MLXS_ASSIGN_OR_RETURN(auto grammar, build(spec));
  auto compiled = std::make_shared<const CompiledGrammar>(
      std::move(grammar), vocab_, std::string(constraint_kind_name(spec.kind)));
  if (capacity_ == 0) return compiled;
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) return it->second->second;  // raced
  lru_.emplace_front(key, compiled);
  index_.emplace(key, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return compiled;
}

core::Result<std::shared_ptr<const CompiledGrammar>> Compiler::json_schema(
    std::string_view schema_text, const JsonSchemaOptions& options) {
  ConstraintSpec spec;
  spec.kind = ConstraintSpec::Kind::kJsonSchema;
  spec.text = std::string(schema_text);
  spec.json = options;
  return compile(spec);
}

core::Result<std::shared_ptr<const CompiledGrammar>> Compiler::json_object(
    const JsonSchemaOptions& options) {
  ConstraintSpec spec;
  spec.kind = ConstraintSpec::Kind::kJsonObject;
  spec.json = options;
  return compile(spec);
}

core::Result<std::shared_ptr<const CompiledGrammar>> Compiler::regex(std::string_view pattern) {
  ConstraintSpec spec;
  spec.kind = ConstraintSpec::Kind::kRegex;
  spec.text = std::string(pattern);
  return compile(spec);
}

core::Result<std::shared_ptr<const CompiledGrammar>> Compiler::grammar(std::string_view gbnf) {
  ConstraintSpec spec;
  spec.kind = ConstraintSpec::Kind::kGrammar;
  spec.text = std::string(gbnf);
  return compile(spec);
}

Compiler::CacheStats Compiler::cache_stats() const {
  std::lock_guard lock(mutex_);
  CacheStats s = stats_;
  s.entries = lru_.size();
  return s;
}

}  // namespace mlxs::guidance
