#pragma once
// What `serve` runs with: the effective configuration (defaults, file,
// environment, --set) with the command-line flags that were given laid over
// it, read into the HTTP server's and the in-process worker's options.

#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "runtime/options.h"
#include "server/options.h"

namespace mlxs::cli {

// The `server` section as the HTTP server's options; `limits` are kept
// (they come from flags only).
server::ServerOptions server_options(const core::Json& server_section,
                                     const server::RequestLimits& limits);

// An in-process worker's options from the `workers` and `model` sections.
runtime::RuntimeOptions in_process_options(const core::Json& effective);

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
