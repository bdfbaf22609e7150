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

}  // namespace
}  // namespace mlxs::core
