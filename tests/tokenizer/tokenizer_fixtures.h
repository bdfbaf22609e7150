#pragma once
// The tokenizer fixture files (../shared/fixtures/tokenizers/*.json or
// $MLXS_FIXTURES/tokenizers) and the npm-installed tokenizer each one names,
// loaded once per test process and checked against the fixture's sha256.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace mlxs::tokenizer::testing {

struct TokenizerCase {
  std::string name;        // "qwen3"
  nlohmann::json fixture;  // the whole fixture document
  std::string model_dir;   // node_modules/<package>/models
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string error;  // why the case could not be loaded, if it could not
};

// Fixture file stems, sorted.
std::vector<std::string> tokenizer_case_names();
// Loads (once) and returns the case; check `error` first.
const TokenizerCase& tokenizer_case(const std::string& name);
std::string repo_root();

}  // namespace mlxs::tokenizer::testing
