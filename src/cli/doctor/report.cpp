#include "cli/doctor/report.h"

#include "build_info.h"

namespace mlxs::cli::doctor {

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kPass:
      return "pass";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kFail:
      return "fail";
  }
  return "fail";
}

void Report::pass(std::string id, std::string subject, std::string detail) {
  checks_.push_back({std::move(id), std::move(subject), Level::kPass, std::move(detail), {}});
}

void Report::info(std::string id, std::string subject, std::string detail) {
  checks_.push_back({std::move(id), std::move(subject), Level::kInfo, std::move(detail), {}});
}

void Report::warn(std::string id, std::string subject, std::string detail, std::string hint) {
  checks_.push_back(
      {std::move(id), std::move(subject), Level::kWarn, std::move(detail), std::move(hint)});
}

void Report::fail(std::string id, std::string subject, std::string detail, std::string hint) {
  checks_.push_back(
      {std::move(id), std::move(subject), Level::kFail, std::move(detail), std::move(hint)});
}

Level Report::worst() const {
  Level w = Level::kPass;
  for (const auto& c : checks_) {
    if (c.level == Level::kFail || (c.level == Level::kWarn && w != Level::kFail)) w = c.level;
  }
  return w;
}

int Report::exit_code() const {
  const Level w = worst();
  return w == Level::kFail ? 2 : w == Level::kWarn ? 1 : 0;
}

std::string Report::human() const {
  std::string out;
  for (const auto& c : checks_) {
    out += "[" + std::string(level_name(c.level)) + "] " + c.id;
    if (!c.subject.empty()) out += " (" + c.subject + ")";
    out += ": " + c.detail;
    if (!c.hint.empty()) out += "  \u2192 " + c.hint;
    out += "\n";
  }
  int counts[4] = {0, 0, 0, 0};
  for (const auto& c : checks_) ++counts[static_cast<int>(c.level)];
  out += std::to_string(counts[0]) + " passed, " + std::to_string(counts[2]) + " warning" +
         (counts[2] == 1 ? "" : "s") + ", " + std::to_string(counts[3]) + " failed\n";
  return out;
}

core::Json Report::json() const {
  core::Json checks = core::Json::array();
  core::Json counts = {{"pass", 0}, {"info", 0}, {"warn", 0}, {"fail", 0}};
  for (const auto& c : checks_) {
    core::Json j = {{"id", c.id}, {"status", level_name(c.level)}, {"detail", c.detail}};
    if (!c.subject.empty()) j["subject"] = c.subject;
    if (!c.hint.empty()) j["hint"] = c.hint;
    checks.push_back(std::move(j));
    counts[std::string(level_name(c.level))] =
        counts[std::string(level_name(c.level))].get<int>() + 1;
  }
  return {{"version", MLXS_VERSION},
          {"status", level_name(worst())},
          {"exit_code", exit_code()},
          {"counts", counts},
          {"checks", checks}};
}

}  // namespace mlxs::cli::doctor
