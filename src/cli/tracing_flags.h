#pragma once
// The tracing flags: `serve --otlp-endpoint URL` over the configuration's
// tracing section, and the runtime worker's --otlp-* flags through which
// serve hands that whole section to each child worker (as it does logging).

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "control/config.h"
#include "core/status.h"
#include "telemetry/tracer.h"

namespace mlxs::cli {

// --otlp-endpoint on serve.
void add_otlp_endpoint_option(CLI::App* cmd, std::string* endpoint);
// Every --otlp-* flag (control::tracing_worker_args writes them) on runtime.
void add_worker_tracing_options(CLI::App* cmd, control::TracingConfig* tracing);

// This process's tracer: null when the endpoint is empty; ConfigError for a
// bad URL. Logs where spans go.
core::Result<std::shared_ptr<telemetry::Tracer>> make_tracer(const control::TracingConfig& t);

}  // namespace mlxs::cli
