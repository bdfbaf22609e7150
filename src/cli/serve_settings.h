#pragma once
// What `serve` runs with: the effective configuration (defaults, file,
// environment, --set) with the command-line flags that were given laid over
// it, read into the HTTP server's and the in-process worker's options.

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

}  // namespace mlxs::cli
