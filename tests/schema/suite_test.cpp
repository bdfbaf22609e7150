// Runs the official JSON-Schema-Test-Suite (../shared/fixtures/
// json-schema-test-suite; see its README) for draft 2020-12 and draft 7:
// every file of the draft folder, optional/ and optional/format/ (with format
// assertion on). Every test must pass except those in kKnownFailures, each
// listed with its reason; a listed test that starts passing fails too, so
// the list stays exact. Prints the pass rate per file.

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "schema/schema.h"
#include "testing/fixtures.h"

namespace mlxs::schema {
namespace {

namespace fs = std::filesystem;
using core::Json;

struct KnownFailure {
  const char* file;  // relative to tests/, e.g. "draft7/optional/format/idn-hostname.json"
  const char* test_case;
  const char* test;
  const char* reason;
};

// Tests we knowingly fail, and why. Empty today: every test of both drafts
// (mandatory, optional/ and optional/format/) passes. Add an entry, with its
// reason, only for a deliberate gap.
constexpr std::array<KnownFailure, 0> kKnownFailures{};

// The keyword files the module must pass in full (each must be present, so a
// partial fixture folder cannot pass vacuously).
const std::vector<std::string> kRequired2020 = {"additionalProperties",
                                                "allOf",
                                                "anchor",
                                                "anyOf",
                                                "boolean_schema",
                                                "const",
                                                "contains",
                                                "defs",
                                                "dependentRequired",
                                                "dependentSchemas",
                                                "dynamicRef",
                                                "enum",
                                                "exclusiveMaximum",
                                                "exclusiveMinimum",
                                                "format",
                                                "if-then-else",
                                                "infinite-loop-detection",
                                                "items",
                                                "maxContains",
                                                "maxItems",
                                                "maxLength",
                                                "maxProperties",
                                                "maximum",
                                                "minContains",
                                                "minItems",
                                                "minLength",
                                                "minProperties",
                                                "minimum",
                                                "multipleOf",
                                                "not",
                                                "oneOf",
                                                "pattern",
                                                "patternProperties",
                                                "prefixItems",
                                                "properties",
                                                "propertyNames",
                                                "ref",
                                                "refRemote",
                                                "required",
                                                "type",
                                                "unevaluatedItems",
                                                "unevaluatedProperties",
                                                "uniqueItems"};
const std::vector<std::string> kRequired7 = {"additionalItems",
                                             "additionalProperties",
                                             "allOf",
                                             "anyOf",
                                             "boolean_schema",
                                             "const",
                                             "contains",
                                             "definitions",
                                             "dependencies",
                                             "enum",
                                             "exclusiveMaximum",
                                             "exclusiveMinimum",
                                             "format",
                                             "if-then-else",
                                             "infinite-loop-detection",
                                             "items",
                                             "maxItems",
                                             "maxLength",
                                             "maxProperties",
                                             "maximum",
                                             "minItems",
                                             "minLength",
                                             "minProperties",
                                             "minimum",
                                             "multipleOf",
                                             "not",
                                             "oneOf",
                                             "pattern",
                                             "patternProperties",
                                             "properties",
                                             "propertyNames",
                                             "ref",
                                             "refRemote",
                                             "required",
                                             "type",
                                             "uniqueItems"};

std::string suite_dir() {
  return testing::fixture_path("json-schema-test-suite");
}

Json read_json(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

// remotes/<path> is served as http://localhost:1234/<path>.
const DocumentMap& remotes() {
  static const DocumentMap docs = [] {
    DocumentMap out;
    const fs::path root = fs::path(suite_dir()) / "remotes";
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
      const std::string rel = fs::relative(entry.path(), root).generic_string();
      out.emplace("http://localhost:1234/" + rel, read_json(entry.path()));
    }
    return out;
  }();
  return docs;
}

struct FileResult {
  std::string file;
  int passed = 0;
  int total = 0;
};

bool is_known(const std::string& file, const std::string& test_case, const std::string& test) {
  return std::any_of(std::begin(kKnownFailures), std::end(kKnownFailures),
                     [&](const KnownFailure& k) {
                       return file == k.file && test_case == k.test_case && test == k.test;
                     });
}

std::vector<std::string> suite_files(const std::string& draft) {
  std::vector<std::string> files;
  const fs::path tests = fs::path(suite_dir()) / "tests";
  for (const char* sub : {"", "/optional", "/optional/format"}) {
    const fs::path dir = tests / (draft + sub);
    std::vector<std::string> here;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".json") {
        here.push_back(fs::relative(entry.path(), tests).generic_string());
      }
    }
    std::sort(here.begin(), here.end());
    files.insert(files.end(), here.begin(), here.end());
  }
  return files;
}

void run_draft(const std::string& draft, Draft mode, const std::vector<std::string>& required) {
  const fs::path tests = fs::path(suite_dir()) / "tests";
  ASSERT_TRUE(fs::exists(tests / draft)) << "missing " << (tests / draft);
  for (const std::string& keyword : required) {
    EXPECT_TRUE(fs::exists(tests / draft / (keyword + ".json")))
        << "missing " << draft << "/" << keyword;
  }
  std::vector<FileResult> results;
  std::set<std::string> known_passing;
  int unexpected = 0;
  for (const std::string& file : suite_files(draft)) {
    CompileOptions options;
    options.default_draft = mode;
    options.documents = &remotes();
    options.format_assertion = file.find("/optional/format/") != std::string::npos;
    options.content_assertion = file == "draft7/optional/content.json";
    FileResult r{file, 0, 0};
    for (const Json& test_case : read_json(tests / file)) {
      const std::string case_name = test_case.at("description").get<std::string>();
      auto schema = Schema::compile(test_case.at("schema"), options);
      for (const Json& test : test_case.at("tests")) {
        const std::string test_name = test.at("description").get<std::string>();
        const bool expected = test.at("valid").get<bool>();
        ++r.total;
        bool ok = false;
        std::string detail;
        if (!schema.is_ok()) {
          detail = "compile failed: " + schema.status().to_string();
        } else {
          const ValidationResult result = schema->validate(test.at("data"));
          const bool fast = schema->is_valid(test.at("data"));
          ok = result.valid == expected && fast == result.valid &&
               result.errors.empty() == result.valid;
          detail = fmt::format("expected {}, got {} (is_valid {}): {}", expected, result.valid,
                               fast, result.summary());
        }
        const bool known = is_known(file, case_name, test_name);
        if (ok) {
          ++r.passed;
          if (known) known_passing.insert(file + " | " + case_name + " | " + test_name);
        } else if (!known) {
          ++unexpected;
          ADD_FAILURE() << file << " | " << case_name << " | " << test_name << ": " << detail;
        }
      }
    }
    results.push_back(r);
  }
  for (const std::string& k : known_passing) {
    ADD_FAILURE() << "listed as a known failure but passes (remove it from kKnownFailures): " << k;
  }

  int passed = 0;
  int total = 0;
  std::string table = fmt::format("\n{:<52} {:>7} {:>7}\n", draft + " file", "pass", "rate");
  for (const FileResult& r : results) {
    passed += r.passed;
    total += r.total;
    table += fmt::format("{:<52} {:>3}/{:<3} {:>6.1f}%\n", r.file.substr(draft.size() + 1),
                         r.passed, r.total, 100.0 * r.passed / std::max(1, r.total));
  }
  table += fmt::format("{:<52} {:>3}/{:<3} {:>6.1f}%\n", "TOTAL", passed, total,
                       100.0 * passed / std::max(1, total));
  std::printf("%s", table.c_str());
  EXPECT_EQ(unexpected, 0);
  EXPECT_GT(total, 0);
}

TEST(JsonSchemaSuite, Draft2020_12) {
  run_draft("draft2020-12", Draft::kDraft2020_12, kRequired2020);
}
TEST(JsonSchemaSuite, Draft7) {
  run_draft("draft7", Draft::kDraft7, kRequired7);
}

}  // namespace
}  // namespace mlxs::schema
