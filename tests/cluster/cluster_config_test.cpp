// The cluster file: the original's keys, defaults, and bad input (malformed,
// truncated, oversized, hostile values) refused with ConfigError naming the key.
#include "cluster/cluster_config.h"

#include <gtest/gtest.h>

#include <string>

namespace mlxs::cluster {
namespace {

core::Result<ClusterConfig> parse(const std::string& text) {
  return parse_cluster_config(text, "cluster.yaml", "/base");
}

void expect_error(const std::string& text, const std::string& fragment) {
  auto r = parse(text);
  ASSERT_FALSE(r.is_ok()) << text;
  EXPECT_EQ(r.status().code(), core::ErrorCode::kConfigError) << r.status().to_string();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos)
      << "want '" << fragment << "' in: " << r.status().message();
}

TEST(ClusterConfig, EmptyDocumentGivesDefaults) {
  auto r = parse("");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->mode, ClusterMode::kBoth);
  EXPECT_EQ(r->name, "default");
  EXPECT_EQ(r->nats.servers, std::vector<std::string>{"nats://127.0.0.1:4222"});
  EXPECT_EQ(r->discovery.heartbeat_interval_ms, 5000);
  EXPECT_EQ(r->discovery.offline_timeout_ms, 15000);
  EXPECT_EQ(r->balancing.strategy, Strategy::kSmart);
  EXPECT_TRUE(r->warnings.empty());
}

TEST(ClusterConfig, ReadsTheOriginalKeysAndOurs) {
  auto r = parse(R"(
mode: worker
name: lab
nats:
  mode: external
  serverUrl: nats://10.0.0.1:4222
  user: u
  password: p
  reconnect: true
  maxReconnectAttempts: 20
  reconnectTimeWait: 500
controller: {enabled: true, port: 8080}
worker:
  port: 8080
  workerId: gpu-1
  maxSessions: 2
  sessionProcesses: true
  models:
    - {id: tiny, path: models/tiny}
    - {id: abs, path: /m/abs}
discovery: {heartbeatIntervalMs: 100, offlineTimeoutMs: 500, controllerIp: 1.2.3.4}
workers: {static: [gpu-1, {id: gpu-2}]}
load_balancing: {strategy: least_loaded, stickySession: false, affinityPrefixChars: 64}
logging: {level: info}
)");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->mode, ClusterMode::kWorker);
  EXPECT_EQ(r->name, "lab");
  EXPECT_EQ(r->nats.servers, std::vector<std::string>{"nats://10.0.0.1:4222"});
  EXPECT_EQ(r->nats.user, "u");
  EXPECT_EQ(r->nats.max_reconnect_attempts, 20);
  EXPECT_EQ(r->nats.reconnect_wait_ms, 500);
  EXPECT_EQ(r->worker.id, "gpu-1");
  EXPECT_EQ(r->worker.max_sessions, 2);
  EXPECT_TRUE(r->worker.session_processes);
  ASSERT_EQ(r->worker.models.size(), 2u);
  EXPECT_EQ(r->worker.models[0].path, "/base/models/tiny");
  EXPECT_EQ(r->worker.models[1].path, "/m/abs");
  EXPECT_EQ(r->discovery.heartbeat_interval_ms, 100);
  EXPECT_EQ(r->discovery.offline_timeout_ms, 500);
  EXPECT_EQ(r->static_workers, (std::vector<std::string>{"gpu-1", "gpu-2"}));
  EXPECT_EQ(r->balancing.strategy, Strategy::kLeastLoaded);
  EXPECT_EQ(r->balancing.affinity_prefix, 64u);
  // controller, worker.port, discovery.controllerIp, logging: accepted, each said to be ignored.
  EXPECT_EQ(r->warnings.size(), 4u);
}

TEST(ClusterConfig, JsonIsAcceptedToo) {
  auto r = parse(R"({"mode": "controller", "nats": {"servers": ["nats://a:1", "tls://b:2"]}})");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->mode, ClusterMode::kController);
  EXPECT_EQ(r->nats.servers.size(), 2u);
}

TEST(ClusterConfig, RefusesMalformedAndTruncatedDocuments) {
  expect_error("nats: [unclosed", "cluster.yaml");
  expect_error(R"({"nats": {"serverUrl": "nats://x)", "cluster.yaml");
  expect_error("- a\n- b\n", "must be a mapping");
  expect_error("42", "must be a mapping");
  expect_error("nats: 7", "nats: must be a mapping");
}

TEST(ClusterConfig, RefusesOversizedDocuments) {
  std::string big = "name: x\n# ";
  big.append(kMaxClusterFileBytes, 'a');
  expect_error(big, "larger than");
}

TEST(ClusterConfig, RefusesUnknownKeysAndBadValues) {
  expect_error("nats: {sever: x}", "nats.sever: unknown key");
  expect_error("mode: everything", "mode: must be controller, worker or both");
  expect_error("nats: {mode: embedded}", "does not embed a NATS server");
  expect_error("nats: {serverUrl: http://x}", "nats.serverUrl: must start with nats://");
  expect_error("nats: {serverUrl: 'nats://a, nats://b'}", "one URL");
  expect_error("nats: {reconnectTimeWait: 1}", "nats.reconnectTimeWait: must be in [10, 600000]");
  expect_error("nats: {reconnectTimeWait: 1.5}", "must be an integer");
  expect_error("nats: {reconnect: 'yes'}", "must be true or false");
  expect_error("worker: {sessionProcesses: 1}", "worker.sessionProcesses: must be true or false");
  expect_error("nats: {maxReconnectAttempts: 99999999999999999999}", "nats.maxReconnectAttempts");
  expect_error("nats: {maxReconnectAttempts: 9999999999}", "must be in");
  expect_error("nats: {maxReconnectAttempts: -2}", "must be in");
  expect_error("name: 'a.b'", "name: must match");
  expect_error("name: '>'", "name: must match");
  expect_error("worker: {workerId: 'w*'}", "worker.workerId: must match");
  expect_error("worker: {workerId: \"a\\nb\"}", "control character");
  expect_error("worker: {models: [{id: a}]}", "needs id and path");
  expect_error("worker: {models: [{id: a, path: x}, {id: a, path: y}]}", "repeats a");
  expect_error("worker: {models: [{id: a, path: x, size: 3}]}", "unknown key");
  expect_error("worker: {maxSessions: 0}", "worker.maxSessions");
  expect_error("discovery: {heartbeatIntervalMs: 1000, offlineTimeoutMs: 1500}",
               "less than two heartbeat intervals");
  expect_error("discovery: {enabled: false}", "needs workers.static");
  expect_error("workers: {static: ['has space']}", "workers.static.0");
  expect_error("load_balancing: {strategy: random}", "must be smart or least_loaded");
  expect_error(std::string("nats: {user: '") + std::string(2000, 'u') + "'}", "longer than");
}

TEST(ClusterConfig, RefusesHugeLists) {
  std::string list = "workers: {static: [";
  for (int i = 0; i < 300; ++i) list += "w" + std::to_string(i) + ",";
  list += "]}";
  expect_error(list, "more than 256");
}

TEST(ClusterConfig, ValidTokens) {
  EXPECT_TRUE(valid_token("a-B_9"));
  EXPECT_FALSE(valid_token(""));
  EXPECT_FALSE(valid_token("a.b"));
  EXPECT_FALSE(valid_token("a*"));
  EXPECT_FALSE(valid_token(std::string(65, 'a')));
  EXPECT_TRUE(valid_token(std::string(64, 'a')));
}

TEST(ClusterConfig, MissingFileIsAConfigError) {
  auto r = load_cluster_config("/no/such/cluster.yaml");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), core::ErrorCode::kConfigError);
}

}  // namespace
}  // namespace mlxs::cluster
