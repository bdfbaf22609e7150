#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

namespace mlxs::core {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kJson};
// Written before threads log (startup), read without a lock afterwards.
std::vector<std::pair<std::string, LogLevel>> g_module_levels;
std::atomic<bool> g_has_module_levels{false};
std::mutex g_sink_mutex;
LogSink g_sink;  // guarded by g_sink_mutex; empty means stderr

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

}  // namespace

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "info";
}

bool parse_log_level(std::string_view name, LogLevel* out) {
  for (auto level :
       {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    if (log_level_name(level) == name) {
      *out = level;
      return true;
    }
  }
  return false;
}

void set_log_level(LogLevel level) {
  g_level.store(level);
}
LogLevel log_level() {
  return g_level.load();
}

void set_module_log_levels(std::vector<std::pair<std::string, LogLevel>> levels) {
  g_module_levels = std::move(levels);
  g_has_module_levels.store(!g_module_levels.empty());
}

const std::vector<std::pair<std::string, LogLevel>>& module_log_levels() {
  return g_module_levels;
}

bool log_enabled(LogLevel level, std::string_view event) {
  if (level == LogLevel::kOff) return false;
  LogLevel threshold = g_level.load();
  if (g_has_module_levels.load()) {
    const std::string_view module = event.substr(0, event.find('_'));
    for (const auto& [name, l] : g_module_levels) {
      if (name == module) threshold = l;
    }
  }
  return threshold != LogLevel::kOff && level >= threshold;
}

void set_log_format(LogFormat format) {
  g_format.store(format);
}
LogFormat log_format() {
  return g_format.load();
}

bool parse_log_format(std::string_view name, LogFormat* out) {
  if (name == "json") {
    *out = LogFormat::kJson;
  } else if (name == "text") {
    *out = LogFormat::kText;
  } else if (name == "auto") {
    *out = ::isatty(STDERR_FILENO) == 1 ? LogFormat::kText : LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

void set_log_sink(LogSink sink) {
  std::lock_guard lock(g_sink_mutex);
  g_sink = std::move(sink);
}

namespace {

// "TS LEVEL event key=value ...": plain strings bare, other strings and
// every other value as JSON (quoted, escaped).
std::string text_line(LogLevel level, std::string_view event, const nlohmann::json& fields) {
  std::string line = fmt::format("{} {:<5} {}", utc_timestamp(), log_level_name(level), event);
  if (!fields.is_object()) return line;
  for (const auto& [key, value] : fields.items()) {
    std::string v;
    if (value.is_string()) {
      const auto& str = value.get_ref<const std::string&>();
      // Bare only when plainly printable: no control bytes (a value must
      // not end the line or move the terminal's cursor), quotes or '='.
      bool bare = !str.empty();
      for (const char c : str) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F || c == '"' || c == '=' || c == '\\') bare = false;
      }
      v = bare ? str : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      v = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    line += fmt::format(" {}={}", key, v);
  }
  return line;
}

}  // namespace

void log_event(LogLevel level, std::string_view event, const nlohmann::json& fields) {
  if (!log_enabled(level, event)) return;
  std::string text;
  if (g_format.load() == LogFormat::kText) {
    text = text_line(level, event, fields);
  } else {
    nlohmann::json line = {{"ts", utc_timestamp()},
                           {"level", std::string(log_level_name(level))},
                           {"event", std::string(event)}};
    if (fields.is_object()) {
      for (const auto& [key, value] : fields.items()) line[key] = value;
    }
    // Replace invalid UTF-8 rather than throw: a log line must never fail.
    text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::lock_guard lock(g_sink_mutex);
  if (g_sink) {
    g_sink(text);
  } else {
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
}

}  // namespace mlxs::core
