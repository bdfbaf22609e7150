#pragma once
// The entry point: compiles constraints (JSON Schema, JSON mode, regex, GBNF
// grammar) for one tokenizer's vocabulary into CompiledGrammars that
// Matchers run. One Compiler per tokenizer; it is thread-safe, keeps the
// terminals that grammars share (and their token tables), and caches
// compiled results by (constraint, options).

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"
#include "guidance/compiled_grammar.h"
#include "guidance/json_schema_grammar.h"
#include "guidance/terminal.h"
#include "guidance/vocab.h"

namespace mlxs::tokenizer {
class Tokenizer;
}

namespace mlxs::guidance {

struct ConstraintSpec {
  enum class Kind : std::uint8_t { kJsonSchema, kJsonObject, kRegex, kGrammar };
  Kind kind = Kind::kJsonObject;
  std::string text;        // the schema's JSON text, the regex or the grammar
  JsonSchemaOptions json;  // JSON schema and JSON mode
};

std::string_view constraint_kind_name(ConstraintSpec::Kind kind);

class Compiler {
 public:
  static core::Result<std::shared_ptr<Compiler>> for_tokenizer(const tokenizer::Tokenizer& tok,
                                                               std::size_t cache_entries = 256);
  explicit Compiler(std::shared_ptr<const TokenVocab> vocab, std::size_t cache_entries = 256);

  // GuidanceError for invalid or unsupported constraints.
  core::Result<std::shared_ptr<const CompiledGrammar>> compile(const ConstraintSpec& spec);
  core::Result<std::shared_ptr<const CompiledGrammar>> json_schema(
      std::string_view schema_text, const JsonSchemaOptions& options = {});
  core::Result<std::shared_ptr<const CompiledGrammar>> json_object(
      const JsonSchemaOptions& options = {});
  core::Result<std::shared_ptr<const CompiledGrammar>> regex(std::string_view pattern);
  core::Result<std::shared_ptr<const CompiledGrammar>> grammar(std::string_view gbnf);

  const std::shared_ptr<const TokenVocab>& vocab() const { return vocab_; }
  TerminalTable& terminals() { return terminals_; }

  struct CacheStats {
    std::size_t hits = 0, misses = 0, entries = 0;
  };
  CacheStats cache_stats() const;

 private:
  core::Result<std::shared_ptr<const Grammar>> build(const ConstraintSpec& spec);

  std::shared_ptr<const TokenVocab> vocab_;
  TerminalTable terminals_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<const CompiledGrammar>>> lru_;
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
  CacheStats stats_;
};

}  // namespace mlxs::guidance
