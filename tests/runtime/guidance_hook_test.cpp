// Structured output end to end: a random-weight model (Llama-3 vocabulary)
// sampled at temperature 1 through the engine, each request constrained by
// runtime/guidance_hook. Every output that ends (a stop, not the length cap)
// parses and validates against its schema, with the schema module, over more
// than 500 distinct schemas (a seeded generator plus hand-written ones per
// keyword); regex outputs full-match; grammar outputs parse. Bad constraints
// fail at once with GuidanceError.
#include "runtime/guidance_hook.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "engine/engine.h"
#include "model/synth.h"
#include "schema/regex.h"
#include "schema/schema.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

using core::Json;

// Random schemas whose every value is bounded (strings, integers, arrays), so
// a random walk ends well before the length cap.
class SchemaGen {
 public:
  explicit SchemaGen(std::uint64_t seed) : rng_(seed) {}

  Json schema(int depth) {
    const int kinds = depth >= 3 ? 8 : 13;
    switch (rng_.below(static_cast<std::uint64_t>(kinds))) {
      case 0:
        return string_schema();
      case 1:
        return {{"type", "integer"}, {"minimum", small(-50, 10)}, {"maximum", small(11, 5000)}};
      case 2:
        return {{"type", "boolean"}};
      case 3:
        return {{"type", "null"}};
      case 4:
        return {{"enum", Json::array({"red", word(), 7, nullptr, true})}};
      case 5:
        return {{"const", word()}};
      case 6:
        return {{"type", Json::array({"string", "null"})}, {"maxLength", small(0, 6)}};
      case 7:
        return format_schema();
      case 8:
      case 9:
        return object_schema(depth);
      case 10:
        return {{"type", "array"}, {"items", schema(depth + 1)}, {"maxItems", small(0, 3)}};
      case 11:
        return {{"anyOf", Json::array({schema(depth + 1), schema(depth + 1)})}};
      default:
        if (depth > 0)
          return object_schema(depth);  // $defs only at the root, where "#/$defs" points
        return {{"$defs", {{"d", schema(depth + 1)}}},
                {"type", "object"},
                {"properties", {{"x", {{"$ref", "#/$defs/d"}}}}},
                {"required", Json::array({"x"})},
                {"additionalProperties", false}};
    }
  }

 private:
  int small(int lo, int hi) {
    return lo + static_cast<int>(rng_.below(static_cast<std::uint64_t>(hi - lo + 1)));
  }
  std::string word() {
    static const char* words[] = {"alpha", "beta", "gamma", "delta", "east", "west", "x", "yes"};
    return words[rng_.below(8)];
  }
  Json string_schema() {
    Json s = {{"type", "string"}, {"maxLength", small(0, 12)}};
    if (rng_.below(3) == 0) s["minLength"] = small(0, s["maxLength"].get<int>());
    if (rng_.below(4) == 0) s = {{"type", "string"}, {"pattern", "^[a-z]{1,6}(-[0-9]{2})?$"}};
    return s;
  }
  Json format_schema() {
    static const char* formats[] = {"date", "time", "date-time", "uuid", "ipv4", "ipv6"};
    return {{"type", "string"}, {"format", formats[rng_.below(6)]}};
  }
  Json object_schema(int depth) {
    Json props = Json::object();
    Json required = Json::array();
    const int n = small(0, 4);
    for (int i = 0; i < n; ++i) {
      const std::string name = word() + std::to_string(i);
      props[name] = schema(depth + 1);
      if (rng_.below(2) == 0) required.push_back(name);
    }
    return {{"type", "object"},
            {"properties", props},
            {"required", required},
            {"additionalProperties", false}};
  }

  core::Xoshiro256 rng_;
};

// One schema per keyword the compiler enforces, written by hand.
std::vector<Json> hand_written() {
  const char* texts[] = {
      R"({"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 9})",
      R"({"type": "integer", "minimum": -5, "maximum": 5, "multipleOf": 5})",
      R"({"type": "string", "minLength": 2, "maxLength": 4})",
      R"({"type": "string", "pattern": "^(ab|cd)+$", "maxLength": 6})",
      R"({"type": "string", "format": "date"})",
      R"({"type": "string", "format": "time"})",
      R"({"type": "string", "format": "date-time"})",
      R"({"type": "string", "format": "uuid"})",
      R"({"type": "string", "format": "ipv4"})",
      R"({"type": "string", "format": "ipv6"})",
      R"({"enum": ["a", 1, null, false, {"k": [1]}]})",
      R"({"const": {"fixed": [true, null]}})",
      R"({"type": ["integer", "boolean"], "maximum": 99, "minimum": 0})",
      R"({"type": "array", "prefixItems": [{"type": "boolean"}, {"const": "z"}], "items": false})",
      R"({"type": "array", "items": {"enum": [1, 2]}, "minItems": 2, "maxItems": 3})",
      R"({"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "null"}}, "required": ["a", "b"],
          "additionalProperties": false})",
      R"({"type": "object", "patternProperties": {"^k[0-9]$": {"type": "boolean"}}, "additionalProperties": false,
          "maxProperties": 2})",
      R"({"oneOf": [{"type": "boolean"}, {"type": "null"}]})",
      R"({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 0, "maximum": 9}]})",
      R"({"allOf": [{"type": "integer", "minimum": 0}, {"maximum": 20}]})",
      R"({"$defs": {"node": {"type": "object", "properties": {"next": {"anyOf": [{"type": "null"},
          {"$ref": "#/$defs/node"}]}}, "required": ["next"], "additionalProperties": false}}, "$ref": "#/$defs/node"})",
      R"({"type": "object", "properties": {"n": {"type": ["integer", "null"], "minimum": 1, "maximum": 3}},
          "required": ["n"], "additionalProperties": false})",
      R"({"type": "boolean"})",
      R"({"type": "null"})",
  };
  std::vector<Json> out;
  for (const char* t : texts) out.push_back(Json::parse(t));
  return out;
}

struct Rig {
  std::shared_ptr<backend::cpu::ThreadPool> pool = std::make_shared<backend::cpu::ThreadPool>(2);
  backend::cpu::CpuBackend backend{pool};
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  core::SteadyClock clock;
  std::unique_ptr<engine::Engine> engine;
  bool skipped = false;

  Rig() {
    const std::string dir = testing::temp_dir() + "/guidance-synth-llama3";
    model::SynthOptions o;
    o.preset = "tiny";
    o.arch = "llama";
    o.tokenizer = "llama3";
    o.out_dir = dir;
    auto w = model::write_synthetic_model(o);
    if (!w.is_ok() && w.status().code() == core::ErrorCode::kNotFound) {
      skipped = true;
      return;
    }
    EXPECT_TRUE(w.is_ok()) << w.status().to_string();
    model::LoadOptions lo;
    lo.max_batch_tokens = 256;
    lo.max_seqs = 16;
    lo.max_logit_rows = 16;
    lo.max_context = 512;
    auto m = model::Model::load(dir, backend, lo);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    if (m) model = std::move(m).value();
    auto t = tokenizer::Tokenizer::load_dir(dir);
    EXPECT_TRUE(t.is_ok()) << t.status().to_string();
    if (t) tokenizer = std::move(t).value();
    engine::EngineConfig c;
    c.scheduler.max_batch_tokens = 256;
    c.scheduler.max_seqs = 16;
    c.scheduler.prefill_chunk = 64;
    c.scheduler.max_context = 512;
    c.kv_memory_bytes = 64u << 20;
    if (model) {
      auto e = engine::Engine::create(*model, tokenizer.get(), c, clock);
      EXPECT_TRUE(e.is_ok()) << e.status().to_string();
      if (e) engine = std::move(e).value();
    }
  }
};

struct Job {
  protocol::GuidanceParams guidance;
  std::shared_ptr<engine::Stream> stream;
  std::string text;
  engine::FinishReason finish = engine::FinishReason::kNone;
};

// Runs the jobs 16 at a time; each gets its text and finish reason.
void generate(Rig& rig, std::vector<Job>& jobs, std::uint64_t seed) {
  const auto prompt = *rig.tokenizer->encode("Answer in the requested format:", true);
  for (std::size_t begin = 0; begin < jobs.size(); begin += 16) {
    const std::size_t end = std::min(jobs.size(), begin + 16);
    for (std::size_t i = begin; i < end; ++i) {
      auto plan = prepare_guidance(jobs[i].guidance, *rig.tokenizer, "synth");
      ASSERT_TRUE(plan.is_ok()) << plan.status().to_string() << "\n"
                                << jobs[i].guidance.schema.dump();
      engine::GenerateRequest r;
      r.prompt = prompt;
      r.sampling.temperature = 1.0f;
      r.sampling.seed = seed + i;
      r.stop.max_tokens = 160;
      r.constraint = plan->constraint;
      auto st = rig.engine->submit(std::move(r));
      ASSERT_TRUE(st.is_ok()) << st.status().to_string();
      jobs[i].stream = *st;
    }
    for (int step = 0; step < 2000 && rig.engine->has_work(); ++step) {
      auto worked = rig.engine->step();
      ASSERT_TRUE(worked.is_ok()) << worked.status().to_string();
    }
    for (std::size_t i = begin; i < end; ++i) {
      for (auto& item : jobs[i].stream->take()) {
        jobs[i].text += item.text;
        if (item.final) jobs[i].finish = item.finish;
      }
      EXPECT_FALSE(jobs[i].stream->error().has_value()) << jobs[i].stream->error()->to_string();
      jobs[i].stream.reset();
    }
  }
}

protocol::GuidanceParams params(const std::string& mode, Json schema) {
  protocol::GuidanceParams g;
  g.mode = mode;
  g.schema = std::move(schema);
  return g;
}

TEST(GuidanceHook, ConstrainedOutputsValidateOver500Schemas) {
  Rig rig;
  if (rig.skipped) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  ASSERT_TRUE(rig.engine && rig.tokenizer);
  std::vector<Json> schemas = hand_written();
  std::set<std::string> seen;
  for (const Json& s : schemas) seen.insert(s.dump());
  SchemaGen gen(2024);
  while (schemas.size() < 560) {
    Json s = gen.schema(0);
    if (seen.insert(s.dump()).second) schemas.push_back(std::move(s));
  }
  std::vector<Job> jobs;
  for (const Json& s : schemas) jobs.push_back(Job{params("json_schema", s), nullptr, {}, {}});
  jobs.push_back(Job{params("json_object", nullptr), nullptr, {}, {}});
  generate(rig, jobs, 1);
  std::size_t valid = 0, capped = 0;
  for (const Job& j : jobs) {
    if (j.finish == engine::FinishReason::kLength) {
      ++capped;
      continue;
    }
    ASSERT_EQ(j.finish, engine::FinishReason::kStop) << j.text;
    auto instance = core::parse_json(j.text, "output", core::ErrorCode::kInvalidParams);
    ASSERT_TRUE(instance.is_ok()) << j.text << "\nschema: " << j.guidance.schema.dump();
    if (j.guidance.mode == "json_object") continue;
    auto compiled = schema::Schema::compile(j.guidance.schema);
    ASSERT_TRUE(compiled.is_ok()) << compiled.status().to_string();
    EXPECT_TRUE(compiled->is_valid(*instance))
        << j.text << "\nschema: " << j.guidance.schema.dump();
    ++valid;
  }
  std::printf("%zu schemas: %zu outputs validated, %zu stopped by the length cap\n", schemas.size(),
              valid, capped);
  EXPECT_GE(valid, 500u);
}

TEST(GuidanceHook, RegexAndGrammarOutputsMatch) {
  Rig rig;
  if (rig.skipped) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  ASSERT_TRUE(rig.engine && rig.tokenizer);
  const char* regexes[] = {"[a-z]{1,8}@[a-z]{2,6}\\.(com|org)", "\\d{3}-\\d{4}", "(yes|no|maybe)!?",
                           "[A-Z][a-z]{0,5}( [A-Z][a-z]{0,5}){0,2}",
                           "-?(0|[1-9][0-9]{0,4})(\\.[0-9]{1,3})?"};
  const char* bracket_grammar =
      "root ::= \"[\" (item (\",\" item){0,2})? \"]\"\nitem ::= root | [0-9]{1,2}\n";
  std::vector<Job> jobs;
  for (int rep = 0; rep < 4; ++rep) {
    for (const char* re : regexes) jobs.push_back(Job{params("regex", re), nullptr, {}, {}});
    jobs.push_back(Job{params("grammar", bracket_grammar), nullptr, {}, {}});
  }
  generate(rig, jobs, 99);
  std::size_t checked = 0;
  for (const Job& j : jobs) {
    if (j.finish == engine::FinishReason::kLength) continue;
    ASSERT_EQ(j.finish, engine::FinishReason::kStop) << j.text;
    ++checked;
    if (j.guidance.mode == "regex") {
      auto re = schema::Regex::compile(j.guidance.schema.get<std::string>());
      ASSERT_TRUE(re.is_ok());
      EXPECT_TRUE(re->full_match(j.text)) << j.guidance.schema.get<std::string>() << ": " << j.text;
    } else {
      // Balanced brackets holding at most three comma-separated items.
      int depth = 0;
      bool ok = !j.text.empty() && j.text.front() == '[';
      for (const char c : j.text) {
        depth += c == '[' ? 1 : c == ']' ? -1 : 0;
        ok = ok && depth >= 0 && (c == '[' || c == ']' || c == ',' || (c >= '0' && c <= '9'));
      }
      EXPECT_TRUE(ok && depth == 0) << j.text;
    }
  }
  EXPECT_GE(checked, jobs.size() / 2);
}

TEST(GuidanceHook, BadConstraintsFailWithTheReason) {
  Rig rig;
  if (rig.skipped) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
  ASSERT_TRUE(rig.tokenizer);
  const auto error = [&](const std::string& mode, Json schema) {
    auto plan = prepare_guidance(params(mode, std::move(schema)), *rig.tokenizer, "synth");
    EXPECT_FALSE(plan.is_ok());
    return plan.is_ok() ? std::string() : plan.status().to_string();
  };
  EXPECT_NE(
      error("json_schema",
            Json::parse(R"({"properties": {"a": {"not": {"propertyNames": {"maxLength": 3}}}}})"))
          .find("GuidanceError"),
      std::string::npos);
  EXPECT_NE(error("regex", "a(b").find("GuidanceError"), std::string::npos);
  EXPECT_NE(error("grammar", "root ::= undefined-rule").find("undefined rule 'undefined-rule'"),
            std::string::npos);
  EXPECT_NE(error("json_schema", "not an object").find("GuidanceError"), std::string::npos);
  EXPECT_NE(error("unknown", nullptr).find("Unsupported guidance mode"), std::string::npos);
  EXPECT_NE(error("xml", "<a/>").find("Unsupported"), std::string::npos);
}

}  // namespace
}  // namespace mlxs::runtime
