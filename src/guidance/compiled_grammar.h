#pragma once
// A constraint ready to run: the grammar, bound to the vocabulary it was
// compiled for. Immutable and shared by every Matcher (and thread) using it.

#include <cstddef>
#include <memory>
#include <string>

#include "guidance/grammar.h"
#include "guidance/vocab.h"

namespace mlxs::guidance {

class CompiledGrammar {
 public:
  CompiledGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenVocab> vocab,
                  std::string kind)
      : grammar_(std::move(grammar)), vocab_(std::move(vocab)), kind_(std::move(kind)) {}

  const std::shared_ptr<const Grammar>& grammar() const { return grammar_; }
  const TokenVocab& vocab() const { return *vocab_; }
  const std::shared_ptr<const TokenVocab>& vocab_ptr() const { return vocab_; }
  // "json_schema", "json_object", "regex" or "grammar".
  const std::string& kind() const { return kind_; }

 private:
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenVocab> vocab_;
  std::string kind_;
};

}  // namespace mlxs::guidance
