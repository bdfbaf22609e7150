#include "core/log.h"

#include <gtest/gtest.h>

namespace mlxs::core {
namespace {

TEST(Log, WritesOneJsonObjectPerLineAndFilters) {
  std::vector<std::string> lines;
  set_log_sink([&](std::string_view line) { lines.emplace_back(line); });
  set_log_level(LogLevel::kInfo);
  log_debug("hidden");
  log_info("model_loaded", {{"model", "tiny"}, {"bytes", 12}});
  log_warn("bad_utf8", {{"text", std::string("\xff\xfe")}});
  set_log_sink(nullptr);
  ASSERT_EQ(lines.size(), 2u);
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["event"], "model_loaded");
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["model"], "tiny");
  EXPECT_EQ(first["bytes"], 12);
  EXPECT_TRUE(first["ts"].get<std::string>().ends_with("Z"));
  EXPECT_TRUE(nlohmann::json::accept(lines[1]));
}

TEST(Log, ModulesHaveTheirOwnLevels) {
  std::vector<std::string> lines;
  set_log_sink([&](std::string_view line) { lines.emplace_back(line); });
  set_log_level(LogLevel::kWarn);
  set_module_log_levels({{"runtime", LogLevel::kDebug}, {"http", LogLevel::kOff}});
  log_debug("runtime_step", {{"n", 1}});  // runtime: debug and up
  log_info("worker_ready");               // the global warn
  log_warn("worker_lost");
  log_error("http_client_too_slow");  // http: off
  log_info("runtime");                // a name without '_' is its own module
  set_module_log_levels({});
  set_log_level(LogLevel::kInfo);
  set_log_sink(nullptr);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["event"], "runtime_step");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["event"], "worker_lost");
  EXPECT_EQ(nlohmann::json::parse(lines[2])["event"], "runtime");
}

TEST(Log, TextFormatIsOneHumanLineThatCannotBeSplit) {
  std::vector<std::string> lines;
  set_log_sink([&](std::string_view line) { lines.emplace_back(line); });
  set_log_format(LogFormat::kText);
  log_warn("worker_lost",
           {{"worker", "worker-0"}, {"exit", 137}, {"reason", "killed\nby \"signal\" 9\x1b[2J"}});
  set_log_format(LogFormat::kJson);
  set_log_sink(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  const std::string& l = lines[0];
  EXPECT_EQ(l.find('\n'), std::string::npos) << l;
  EXPECT_EQ(l.find('\x1b'), std::string::npos) << "control bytes are escaped: " << l;
  EXPECT_NE(l.find("Z warn  worker_lost "), std::string::npos) << l;
  EXPECT_NE(l.find(" worker=worker-0"), std::string::npos) << l;
  EXPECT_NE(l.find(" exit=137"), std::string::npos) << l;
  EXPECT_NE(l.find(R"( reason="killed\nby \"signal\" 9\u001b[2J")"), std::string::npos) << l;

  LogFormat f = LogFormat::kText;
  EXPECT_TRUE(parse_log_format("json", &f));
  EXPECT_EQ(f, LogFormat::kJson);
  EXPECT_TRUE(parse_log_format("text", &f));
  EXPECT_EQ(f, LogFormat::kText);
  EXPECT_TRUE(parse_log_format("auto", &f));  // a pipe or file here: json
  EXPECT_FALSE(parse_log_format("xml", &f));
}

}  // namespace
}  // namespace mlxs::core
