#pragma once
// Structured logs: one JSON object per line on stderr (or a chosen sink), so
// that operators and tests can parse every event; or, for people at a
// terminal, one human line per event. Levels filter at run time, globally
// and per module: an event's module is the word before the first '_' of its
// name ("runtime_model_loaded" belongs to "runtime").

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlxs::core {

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarn, kError, kOff };

std::string_view log_level_name(LogLevel level);
bool parse_log_level(std::string_view name, LogLevel* out);

void set_log_level(LogLevel level);
LogLevel log_level();

// Levels for some modules over the global one (set before threads log).
void set_module_log_levels(std::vector<std::pair<std::string, LogLevel>> levels);
const std::vector<std::pair<std::string, LogLevel>>& module_log_levels();
// Whether an event of this level and name is written.
bool log_enabled(LogLevel level, std::string_view event);

// json: one object per line (the default); text: "TS LEVEL event k=v ...".
enum class LogFormat : std::uint8_t { kJson, kText };
void set_log_format(LogFormat format);
LogFormat log_format();
// "json", "text", or "auto" (text when stderr is a terminal).
bool parse_log_format(std::string_view name, LogFormat* out);

// Replaces the sink (default: stderr). Tests capture lines with it.
using LogSink = std::function<void(std::string_view line)>;
void set_log_sink(LogSink sink);

// {"ts":"2026-11-25T23:59:01.123Z","level":"info","event":"model_loaded",...fields}
void log_event(LogLevel level, std::string_view event, const nlohmann::json& fields = {});

inline void log_info(std::string_view event, const nlohmann::json& fields = {}) {
  log_event(LogLevel::kInfo, event, fields);
}
inline void log_warn(std::string_view event, const nlohmann::json& fields = {}) {
  log_event(LogLevel::kWarn, event, fields);
}
inline void log_error(std::string_view event, const nlohmann::json& fields = {}) {
  log_event(LogLevel::kError, event, fields);
}
inline void log_debug(std::string_view event, const nlohmann::json& fields = {}) {
  log_event(LogLevel::kDebug, event, fields);
}

}  // namespace mlxs::core
