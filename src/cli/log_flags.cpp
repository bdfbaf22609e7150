#include "cli/log_flags.h"

#include "core/log.h"

namespace mlxs::cli {
namespace {

LogFlagsGiven g_log_flags;  // set once by main before any thread starts

}  // namespace

std::optional<std::string> apply_log_flags(const std::string& level, const std::string& format,
                                           const std::vector<std::string>& modules) {
  core::LogLevel l = core::LogLevel::kInfo;
  if (!core::parse_log_level(level, &l))
    return "--log-level must be debug, info, warn, error or off";
  core::LogFormat f = core::LogFormat::kJson;
  if (!core::parse_log_format(format, &f)) return "--log-format must be auto, json or text";
  std::vector<std::pair<std::string, core::LogLevel>> levels;
  for (const auto& m : modules) {
    const auto eq = m.find('=');
    core::LogLevel ml = core::LogLevel::kInfo;
    if (eq == std::string::npos || eq == 0 || !core::parse_log_level(m.substr(eq + 1), &ml)) {
      return "--log-module takes MODULE=LEVEL (debug, info, warn, error or off)";
    }
    levels.emplace_back(m.substr(0, eq), ml);
  }
  core::set_log_level(l);
  core::set_log_format(f);
  core::set_module_log_levels(std::move(levels));
  return std::nullopt;
}

LogFlagsGiven log_flags_given() {
  return g_log_flags;
}
void set_log_flags_given(LogFlagsGiven given) {
  g_log_flags = given;
}

}  // namespace mlxs::cli
