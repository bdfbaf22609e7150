// The shipped Grafana dashboard and Prometheus alert rules query only metrics
// the server really exports: every `mlxs_*` name in their PromQL is checked
// against the `# TYPE` families of a live `serve` that loaded a model and
// served one completion (so the engine families from the worker's telemetry
// are there too). A renamed metric then fails here instead of leaving an
// empty panel or an alert that can never fire.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/json_util.h"
#include "raw_http.h"
#include "serve_process.h"

namespace mlxs::testing {
namespace {

using core::Json;
namespace fs = std::filesystem;

// CTest gives MLXS_SOURCE_DIR; the compile definition lets the binary run by hand.
fs::path source_dir() {
  if (const char* env = std::getenv("MLXS_SOURCE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return MLXS_DEPLOY_SOURCE_DIR;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A metric name ends at the first character that cannot continue it; names
// are lower case, so alert names (MlxsFoo) and labels never match.
void add_names(const std::string& promql, std::set<std::string>* names) {
  static const std::regex kName("mlxs_[a-z0-9_]+");
  for (auto it = std::sregex_iterator(promql.begin(), promql.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names->insert(it->str());
  }
}

// The PromQL of a dashboard: every panel target's `expr` and every template
// variable's query (`query` may be a string or an object holding one, and
// `definition` repeats it). Titles and descriptions are not PromQL.
void dashboard_names(const Json& node, std::set<std::string>* names, int* exprs) {
  if (node.is_array()) {
    for (const auto& item : node) dashboard_names(item, names, exprs);
    return;
  }
  if (!node.is_object()) return;
  for (const auto& [key, value] : node.items()) {
    if ((key == "expr" || key == "query" || key == "definition") && value.is_string()) {
      add_names(value.get<std::string>(), names);
      if (key == "expr") ++*exprs;
    } else {
      dashboard_names(value, names, exprs);
    }
  }
}

std::set<std::string> rule_names(const YAML::Node& doc, int* exprs) {
  std::set<std::string> names;
  for (const auto& group : doc["groups"]) {
    for (const auto& rule : group["rules"]) {
      EXPECT_TRUE(rule["expr"] && (rule["alert"] || rule["record"])) << YAML::Dump(rule);
      if (!rule["expr"]) continue;
      add_names(rule["expr"].as<std::string>(), &names);
      ++*exprs;
    }
  }
  return names;
}

struct DeployFiles {
  std::set<std::string> dashboard, rules;
  int dashboard_exprs = 0, rule_exprs = 0;
};

DeployFiles read_deploy_files() {
  DeployFiles files;
  const fs::path deploy = source_dir() / "deploy";
  const Json dashboard = Json::parse(read_text(deploy / "grafana" / "mlx-serving.json"));
  dashboard_names(dashboard, &files.dashboard, &files.dashboard_exprs);
  const YAML::Node alerts = YAML::LoadFile((deploy / "prometheus" / "alerts.yml").string());
  files.rules = rule_names(alerts, &files.rule_exprs);
  return files;
}

// Families by name -> type, from `# TYPE name type` lines.
std::map<std::string, std::string> families(const std::string& scrape) {
  std::map<std::string, std::string> out;
  std::istringstream in(scrape);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream words(line.substr(7));
    std::string name, type;
    words >> name >> type;
    out[name] = type;
  }
  return out;
}

// Empty when `name` is exported: a family itself, or the _bucket/_sum/_count
// series of a histogram family. Otherwise why not.
std::string check_exported(const std::string& name,
                           const std::map<std::string, std::string>& types) {
  if (types.count(name) != 0) return "";
  for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string base = name.substr(0, name.size() - suffix.size());
      const auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return "";
      if (it != types.end()) return base + " is a " + it->second + ", not a histogram";
    }
  }
  return "no such family in /metrics";
}

// The files themselves: parse, carry what the brief for them promises, and
// the extraction above finds their queries (no server needed).
TEST(DeployFiles, ParseAndQueryTheExpectedFamilies) {
  const fs::path deploy = source_dir() / "deploy";
  const Json dashboard = Json::parse(read_text(deploy / "grafana" / "mlx-serving.json"));
  EXPECT_GE(dashboard.value("schemaVersion", 0), 39);
  std::map<std::string, Json> vars;
  for (const auto& v : dashboard["templating"]["list"]) vars[v.value("name", "")] = v;
  ASSERT_EQ(vars.count("DS_PROMETHEUS"), 1u);
  EXPECT_EQ(vars["DS_PROMETHEUS"]["type"], "datasource");
  ASSERT_EQ(vars.count("model"), 1u);
  EXPECT_EQ(vars["model"]["definition"], "label_values(mlxs_requests_running, model)");
  // Every panel reads the templated data source, so an import binds them all.
  for (const auto& panel : dashboard["panels"]) {
    if (panel["type"] == "row") continue;
    EXPECT_EQ(panel["datasource"]["uid"], "${DS_PROMETHEUS}") << panel["title"];
    EXPECT_FALSE(panel["targets"].empty()) << panel["title"];
  }

  const DeployFiles files = read_deploy_files();
  EXPECT_GE(files.dashboard_exprs, 20);
  EXPECT_GE(files.rule_exprs, 5);
  for (const char* name :
       {"mlxs_generation_tokens_total", "mlxs_prompt_tokens_total", "mlxs_http_requests_total",
        "mlxs_time_to_first_token_seconds_bucket", "mlxs_inter_token_latency_seconds_bucket",
        "mlxs_e2e_request_latency_seconds_bucket", "mlxs_requests_waiting", "mlxs_engine_waiting",
        "mlxs_kv_cache_usage_ratio", "mlxs_prefix_hits_total", "mlxs_breaker_state",
        "mlxs_breaker_transitions_total", "mlxs_worker_restarts_total"}) {
    EXPECT_EQ(files.dashboard.count(name), 1u) << name;
  }
  for (const char* name :
       {"mlxs_breaker_state", "mlxs_requests_waiting", "mlxs_worker_restarts_total",
        "mlxs_kv_cache_usage_ratio", "mlxs_http_requests_total"}) {
    EXPECT_EQ(files.rules.count(name), 1u) << name;
  }

  const YAML::Node prom = YAML::LoadFile((deploy / "prometheus" / "prometheus.yml").string());
  bool alerts_listed = false;
  for (const auto& file : prom["rule_files"]) {
    if (file.as<std::string>() == "alerts.yml") alerts_listed = true;
  }
  EXPECT_TRUE(alerts_listed);
  ASSERT_TRUE(prom["scrape_configs"] && prom["scrape_configs"].size() >= 1);
  EXPECT_EQ(prom["scrape_configs"][0]["metrics_path"].as<std::string>(), "/metrics");
}

TEST(DeployFiles, EveryQueriedMetricIsExportedByAServingServer) {
  const std::string model = synth_test_model();
  ASSERT_FALSE(model.empty()) << "dev synth-model failed";
  std::string error;
  auto server = ServeProcess::start(
      {"--threads", "2", "--model-root", fs::path(model).parent_path().string()}, &error);
  ASSERT_NE(server, nullptr) << error;
  const int port = server->port();

  auto r = http_call(port, "POST", "/v1/models/load",
                     R"({"model":"test","path":")" + fs::path(model).filename().string() + R"("})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = http_call(port, "POST", "/v1/completions",
                R"({"model":"test","prompt":"Hi","max_tokens":2,"temperature":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = http_call(port, "GET", "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto types = families(r.body);
  // The worker answered telemetry, or the engine families would be missing
  // for a reason that has nothing to do with the deploy files.
  ASSERT_EQ(types.count("mlxs_engine_waiting"), 1u) << r.body;

  const DeployFiles files = read_deploy_files();
  for (const auto& [file, names] : {std::pair{"deploy/grafana/mlx-serving.json", &files.dashboard},
                                    std::pair{"deploy/prometheus/alerts.yml", &files.rules}}) {
    for (const std::string& name : *names) {
      const std::string why = check_exported(name, types);
      EXPECT_TRUE(why.empty()) << file << " queries " << name << ": " << why;
    }
  }
  EXPECT_EQ(server->stop(), 0) << server->log();
}

}  // namespace
}  // namespace mlxs::testing
