// The mlx-serving binary end to end: generate against a fixture's reference
// continuation, synthetic models, the decode benchmark's JSON, and coded errors
// for bad input (exit 1, "error: <Code>: ...", no internal paths).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::testing {
namespace {

namespace fs = std::filesystem;

ProcessResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), mlx_serving_binary());
  return run_process(args);
}

// `base` with `extra` appended: one command line and its variants.
ProcessResult cli_plus(std::vector<std::string> base, const std::vector<std::string>& extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return cli(std::move(base));
}

std::vector<int> parse_ids(const std::string& text) {
  std::vector<int> ids;
  std::istringstream in(text);
  for (int v; in >> v;) ids.push_back(v);
  return ids;
}

TEST(CliGenerate, StreamsTheReferenceGreedyContinuation) {
  const std::string dir = fixture_path("hf-tiny/llama");
  auto ref = core::read_json_file(dir + "/reference.json", "reference.json",
                                  core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(ref.is_ok());
  const auto& prompt = (*ref)["prompts"][0];
  std::string ids;
  for (const auto& v : prompt["input_ids"])
    ids += (ids.empty() ? "" : ",") + std::to_string(v.get<int>());
  const auto r = cli({"generate", "--model", dir, "--prompt-ids", ids, "--max-tokens", "16",
                      "--ignore-eos", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto got = parse_ids(r.out);
  ASSERT_EQ(got.size(), 16u) << r.out;
  for (std::size_t j = 0; j < got.size(); ++j) {
    if (prompt["greedy_top2_margins"][j].get<double>() <= 1e-2) break;  // first unclear step
    EXPECT_EQ(got[j], prompt["continuation_ids"][j].get<int>()) << "step " << j;
  }
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
}

TEST(CliGenerate, BadInputGivesCodedErrorsWithoutPaths) {
  const std::string missing = temp_dir() + "/no-such-model";
  auto r = cli({"generate", "--model", missing});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: ModelLoadError: model directory not found"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find(missing), std::string::npos) << "leaks the path: " << r.err;

  r = cli({"generate", "--model", fixture_path("hf-tiny/llama"), "--prompt-ids", "1,x,3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: InvalidParams:"), std::string::npos) << r.err;

  r = cli({"generate", "--model", fixture_path("hf-tiny/llama"), "--prompt-ids", "99999999"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("vocabulary"), std::string::npos) << r.err;

  r = cli({"generate"});
  EXPECT_EQ(r.exit_code, 2) << "a usage error exits 2";
  r = cli({"no-such-command"});
  EXPECT_EQ(r.exit_code, 2);
  for (const char* bad : {"runtime", "runtime=", "=debug", "runtime=loud"}) {
    r = cli({"--log-module", bad, "config", "schema"});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("error: InvalidParams: --log-module"), std::string::npos) << r.err;
  }
  r = cli({"--log-format", "xml", "config", "schema"});
  EXPECT_EQ(r.exit_code, 2);
  r = cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("generate"), std::string::npos);
}

// --tensor-parallel: 2 ranks (CPU threads) give the whole model's greedy
// tokens; bad counts are coded errors before anything loads, and a count the
// heads do not divide is the shard plan's ModelLoadError.
TEST(CliTensorParallel, GenerateOverTwoRanksAndRefusals) {
  const std::string dir = fixture_path("hf-tiny/llama");  // 4 heads, 2 kv heads
  const std::vector<std::string> base = {
      "generate",     "--model",   dir, "--prompt-ids", "1,15,27,300", "--max-tokens", "8",
      "--ignore-eos", "--threads", "2"};
  auto with = [&](const std::vector<std::string>& extra) { return cli_plus(base, extra); };
  const auto whole = with({});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const auto two = with({"--tensor-parallel", "2"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(parse_ids(two.out), parse_ids(whole.out));
  EXPECT_EQ(parse_ids(two.out).size(), 8u);

  for (const char* n : {"0", "-1", "65"}) {
    const auto r = with({"--tensor-parallel", n});
    EXPECT_EQ(r.exit_code, 1) << n;
    EXPECT_NE(r.err.find("error: InvalidParams: tensor_parallel"), std::string::npos) << r.err;
  }
  const auto four = with({"--tensor-parallel", "4"});
  EXPECT_EQ(four.exit_code, 1);
  EXPECT_NE(four.err.find("error: ModelLoadError:"), std::string::npos) << four.err;
  EXPECT_NE(four.err.find("multiple of 4"), std::string::npos) << four.err;
  // serve refuses before it starts anything.
  const auto serve = cli({"serve", "--tensor-parallel", "0", "--port", "0"});
  EXPECT_EQ(serve.exit_code, 1);
  EXPECT_NE(serve.err.find("error: InvalidParams: tensor_parallel"), std::string::npos)
      << serve.err;
}

// --max-batch-tokens: a 100-token prompt in steps of 32 gives the tokens of
// the default budget; bench decode prefills in chunks of it and reports it;
// every command that runs a model refuses a value that is not 0 or
// 16..65536 as a usage error naming the bounds.
TEST(CliMaxBatchTokens, ChunkedPromptsAndRefusals) {
  const std::string dir = fixture_path("hf-tiny/llama");
  std::string ids;
  for (int i = 0; i < 100; ++i) ids += (i == 0 ? "" : ",") + std::to_string(5 + (i * 37) % 500);
  const std::vector<std::string> base = {
      "generate",     "--model",   dir, "--prompt-ids", ids, "--max-tokens", "8",
      "--ignore-eos", "--threads", "2"};
  auto with = [&](const std::vector<std::string>& extra) { return cli_plus(base, extra); };
  const auto whole = with({});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  ASSERT_EQ(parse_ids(whole.out).size(), 8u);
  for (const char* budget : {"32", "16", "0"}) {
    const auto chunked = with({"--max-batch-tokens", budget});
    ASSERT_EQ(chunked.exit_code, 0) << budget << ": " << chunked.err;
    EXPECT_EQ(parse_ids(chunked.out), parse_ids(whole.out)) << budget;
  }

  const std::string json = temp_dir() + "/bench-batch-tokens.json";
  auto r = cli({"bench",
                "decode",
                "--model",
                dir,
                "--batch",
                "2",
                "--prompt-len",
                "40",
                "--decode-tokens",
                "2",
                "--repeats",
                "1",
                "--warmup",
                "0",
                "--probe-mib",
                "64",
                "--threads",
                "2",
                "--quiet",
                "--max-batch-tokens",
                "16",
                "--json",
                json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(json);
  const auto doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["settings"]["max_batch_tokens"], 16);

  for (const char* bad : {"15", "1", "-1", "65537", "many", "32x"}) {
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"generate", "--model", dir},
          std::vector<std::string>{"serve", "--port", "0"}, std::vector<std::string>{"runtime"},
          std::vector<std::string>{"bench", "decode", "--model", dir}}) {
      std::vector<std::string> args = cmd;
      args.insert(args.end(), {"--max-batch-tokens", bad});
      r = cli(args);
      EXPECT_EQ(r.exit_code, 2) << cmd[0] << " " << bad << ": " << r.err;
      EXPECT_NE(r.err.find("max_batch_tokens"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("[16, 65536]"), std::string::npos) << r.err;
    }
  }
}

// --kv-cache-dtype: f32 on the CPU gives the tokens of auto (the same f32
// cache), bench decode records the type the backend keeps and the one
// asked; bf16 and fp8 on the CPU are a coded refusal (exit 1) before any
// model loads; a name that is not a cache type is a usage error (exit 2)
// listing the values, on every command that runs a model.
TEST(CliKvCacheDtype, CpuCachesRecordsAndRefusals) {
  const std::string dir = fixture_path("hf-tiny/llama");
  const std::vector<std::string> base = {
      "generate",     "--model",   dir, "--prompt-ids", "1,2,3", "--max-tokens", "6",
      "--ignore-eos", "--threads", "2"};
  auto with = [&](const std::vector<std::string>& extra) { return cli_plus(base, extra); };
  const auto automatic = with({});
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  for (const char* same : {"auto", "f32"}) {
    const auto r = with({"--kv-cache-dtype", same});
    ASSERT_EQ(r.exit_code, 0) << same << ": " << r.err;
    EXPECT_EQ(parse_ids(r.out), parse_ids(automatic.out)) << same;
  }

  const std::string json = temp_dir() + "/bench-kv-dtype.json";
  const std::vector<std::string> bench = {
      "bench",           "decode", "--model",   dir,      "--batch",  "1", "--prompt-len", "8",
      "--decode-tokens", "2",      "--repeats", "1",      "--warmup", "0", "--probe-mib",  "64",
      "--threads",       "2",      "--quiet",   "--json", json};
  for (const char* asked : {"auto", "f32"}) {
    std::vector<std::string> args = bench;
    args.insert(args.end(), {"--kv-cache-dtype", asked});
    const auto r = cli(args);
    ASSERT_EQ(r.exit_code, 0) << asked << ": " << r.err;
    std::ifstream in(json);
    const auto doc = nlohmann::json::parse(in);
    EXPECT_EQ(doc["settings"]["kv_cache_dtype"], "f32") << asked;
    EXPECT_EQ(doc["settings"]["kv_cache_dtype_requested"], asked);
  }

  // bf16/fp8 on the CPU: the backend check's coded error, from the flag and
  // (serve) from the configuration.
  for (const char* refused : {"bf16", "fp8", "fp8_e4m3"}) {
    const std::string shown = std::string(refused) == "fp8_e4m3" ? "fp8" : refused;
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"generate", "--model", dir, "--kv-cache-dtype", refused},
          std::vector<std::string>{"bench", "decode", "--model", dir, "--quiet", "--kv-cache-dtype",
                                   refused},
          std::vector<std::string>{"serve", "--port", "0", "--kv-cache-dtype", refused},
          std::vector<std::string>{"serve", "--port", "0", "--set",
                                   std::string("workers.kv_cache_dtype=") + refused},
          std::vector<std::string>{"runtime", "--kv-cache-dtype", refused}}) {
      const auto r = cli(cmd);
      EXPECT_EQ(r.exit_code, 1) << cmd[0] << " " << refused << ": " << r.err;
      EXPECT_NE(r.err.find("Unsupported"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("kv_cache_dtype " + shown), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("cpu backend"), std::string::npos) << r.err;
    }
  }

  for (const char* bad : {"fp16", "FP8", "fp8_e5m2", "float32", "8"}) {
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"generate", "--model", dir},
          std::vector<std::string>{"serve", "--port", "0"}, std::vector<std::string>{"runtime"},
          std::vector<std::string>{"bench", "decode", "--model", dir}}) {
      std::vector<std::string> args = cmd;
      args.insert(args.end(), {"--kv-cache-dtype", bad});
      const auto r = cli(args);
      EXPECT_EQ(r.exit_code, 2) << cmd[0] << " " << bad << ": " << r.err;
      EXPECT_NE(r.err.find("kv_cache_dtype '" + std::string(bad) + "'"), std::string::npos)
          << r.err;
      EXPECT_NE(r.err.find("auto, bf16, fp8 (or fp8_e4m3), f32"), std::string::npos) << r.err;
    }
  }
}

TEST(CliDev, SynthModelThenGenerateAndBench) {
  const std::string out = temp_dir() + "/cli-synth";
  auto r = cli({"dev", "synth-model", "--preset", "tiny", "--arch", "qwen3", "--dtype", "bf16",
                "--tokenizer", "none", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(fs::path(out) / "model.safetensors"));

  r = cli(
      {"generate", "--model", out, "--prompt-ids", "5,6,7", "--max-tokens", "5", "--ignore-eos"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_ids(r.out).size(), 5u);

  const std::string json = temp_dir() + "/bench.json";
  r = cli({"bench", "decode", "--model", out, "--batch", "1,2", "--prompt-len", "4",
           "--decode-tokens", "3", "--repeats", "2", "--warmup", "1", "--probe-mib", "64",
           "--quiet", "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("decode benchmark"), std::string::npos);
  std::ifstream in(json);
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["runs"].size(), 2u);
  for (const auto& run : doc["runs"]) {
    EXPECT_GT(run["decode_tok_s"].get<double>(), 0.0);
    EXPECT_GT(run["fraction_of_bound"].get<double>(), 0.0);
    EXPECT_EQ(run["repeats"].size(), 2u);
  }
  EXPECT_GT(doc["model"]["weight_bytes_per_token"].get<double>(), 0.0);
}

TEST(CliDev, SynthModelRejectsBadOptions) {
  auto r = cli({"dev", "synth-model", "--preset", "huge", "--out", temp_dir() + "/x"});
  EXPECT_EQ(r.exit_code, 2);
  r = cli({"dev", "synth-model", "--preset", "tiny", "--tokenizer", "llama3", "--tokenizer-dir",
           temp_dir() + "/nowhere", "--out", temp_dir() + "/y"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: NotFound:"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mlxs::testing
