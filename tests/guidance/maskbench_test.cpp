// MaskBench ($MLXS_FIXTURES/maskbench): real-world schemas with valid and
// invalid instances, run token by token through the Llama-3 vocabulary.
// Per schema: compile; every valid instance, written compactly (the
// verdicts of the fixture's README) and as Python's json.dumps writes it
// (", " and ": ", what the timing runs feed), must have each token allowed
// and be accepted at the end; every invalid instance, written compactly, must
// be refused at some step or not accepted at the end. Any invalidation error
// fails, and so does a pass rate below 80% of schemas.
//
// CI runs a deterministic subsample (every MLXS_MASKBENCH_STRIDE-th file,
// default 6); `mlx-serving bench grammar` runs every file.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/json_util.h"
#include "guidance/compiler.h"
#include "guidance/matcher.h"
#include "guidance_test_util.h"
#include "testing/fixtures.h"

namespace mlxs::guidance {
namespace {

namespace fs = std::filesystem;
using Ordered = nlohmann::ordered_json;

// Empty when every token is allowed (mask and advance agree) and the text is
// accepted at the end; else why not.
std::string run_text(const std::shared_ptr<const CompiledGrammar>& g,
                     const tokenizer::Tokenizer& tok, const std::string& text,
                     std::vector<std::uint32_t>& mask) {
  auto ids = tok.encode(text, false);
  if (!ids.is_ok()) return "tokenizer: " + ids.status().message();
  Matcher m(g);
  for (std::size_t i = 0; i < ids->size(); ++i) {
    const std::int32_t id = (*ids)[i];
    m.fill_mask(mask);
    const bool allowed = test::has_bit(mask, id);
    const bool advanced = m.advance(id).is_ok();
    if (allowed != advanced) {
      return fmt::format("token #{} ({}): mask says {}, advance says {}", i, id, allowed, advanced);
    }
    if (!allowed)
      return fmt::format("token #{} ({}) '{}' not allowed", i, id, g->vocab().bytes(id));
  }
  if (!m.can_terminate()) return "not accepting at the end";
  return {};
}

std::size_t stride() {
  const char* s = std::getenv("MLXS_MASKBENCH_STRIDE");
  const long v = s != nullptr ? std::strtol(s, nullptr, 10) : 0;
  return v > 0 ? static_cast<std::size_t>(v) : 6;
}

TEST(MaskBench, ValidAcceptedInvalidRejected) {
  Compiler* compiler = test::llama3_compiler();
  if (compiler == nullptr) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  const fs::path data = testing::fixture_path("maskbench/data");
  std::error_code ec;
  ASSERT_TRUE(fs::is_directory(data, ec)) << data;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(data, ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());

  JsonSchemaOptions options;
  options.whitespace = Whitespace::kFlexible;
  const tokenizer::Tokenizer& tok = *test::llama3();
  std::vector<std::uint32_t> mask(compiler->vocab()->words());
  std::size_t schemas = 0, passing = 0, compile_errors = 0, validation_errors = 0,
              invalidation_errors = 0;
  const std::size_t step = stride();
  for (std::size_t f = 0; f < files.size(); f += step) {
    const std::string name = files[f].filename().string();
    std::ifstream in(files[f]);
    std::stringstream buf;
    buf << in.rdbuf();
    const Ordered doc = Ordered::parse(buf.str(), nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << name;
    ++schemas;
    auto compiled = compiler->json_schema(doc["schema"].dump(), options);
    if (!compiled.is_ok()) {
      EXPECT_EQ(compiled.status().code(), core::ErrorCode::kGuidanceError) << name;
      ++compile_errors;
      continue;
    }
    bool validation_failed = false, invalidation_failed = false;
    const Ordered tests = doc.value("tests", Ordered::array());
    for (std::size_t t = 0; t < tests.size(); ++t) {
      std::string compact, python;
      try {
        compact = tests[t]["data"].dump();
        core::append_python_json(tests[t]["data"], python);
      } catch (const std::exception&) {
        continue;  // not UTF-8: the benchmark cannot write it either
      }
      if (tests[t].value("valid", false)) {
        for (const std::string* text : {&compact, &python}) {
          const std::string why = run_text(*compiled, tok, *text, mask);
          if (!why.empty()) {
            validation_failed = true;
            std::printf("validation error: %s test #%zu: %s\n", name.c_str(), t, why.c_str());
          }
        }
      } else if (run_text(*compiled, tok, compact, mask).empty()) {
        invalidation_failed = true;
        ADD_FAILURE() << "invalidation error: " << name << " test #" << t
                      << " accepted: " << compact;
      }
    }
    if (invalidation_failed) {
      ++invalidation_errors;
    } else if (validation_failed) {
      ++validation_errors;
    } else {
      ++passing;
    }
  }
  std::printf(
      "MaskBench (every %zu-th of %zu files): %zu schemas, %zu pass, %zu compile errors, %zu "
      "validation "
      "errors, %zu invalidation errors\n",
      step, files.size(), schemas, passing, compile_errors, validation_errors, invalidation_errors);
  EXPECT_EQ(invalidation_errors, 0u);
  EXPECT_GE(passing * 5, schemas * 4) << "pass rate below 80%";
}

}  // namespace
}  // namespace mlxs::guidance
