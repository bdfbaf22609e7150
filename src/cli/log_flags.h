#pragma once
// The global logging flags (--log-level, --log-format, --log-module): main
// applies them to every command; serve lets its configuration's logging
// section fill in the ones not given and passes the result to its workers.

#include <optional>
#include <string>
#include <vector>

namespace mlxs::cli {

// Applies --log-level, --log-format and --log-module values (nullopt), or
// says which one is malformed.
std::optional<std::string> apply_log_flags(const std::string& level, const std::string& format,
                                           const std::vector<std::string>& modules);

// Which logging flags were on the command line (the configuration's
// logging section yields to them).
struct LogFlagsGiven {
  bool level = false;
  bool format = false;
  bool modules = false;
};
LogFlagsGiven log_flags_given();
void set_log_flags_given(LogFlagsGiven given);

}  // namespace mlxs::cli
