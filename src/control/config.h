#pragma once
// The configuration: one YAML file (config/runtime.yaml by default; the
// original's section and key names where they still mean something), then
// environment variables MLXS_SECTION__KEY (a double underscore between
// levels), then command-line `--set section.key=value` flags, merged in that
// order over the schema's defaults and validated as a whole against
// schemas/config.schema.json before anything starts. Every problem is
// reported with its path, a machine code and one human sentence; unknown
// keys are errors with a did-you-mean; the original's sections that have no
// meaning here (Apple-specific ones such as metal_optimizations, and those
// its engine never wired) load with a warning.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/options.h"
#include "core/json_util.h"
#include "core/status.h"

namespace mlxs::control {

inline constexpr std::string_view kDefaultConfigPath = "config/runtime.yaml";

struct ConfigIssue {
  std::string path;     // "json_rpc.default_timeout_ms"; "" for the whole document
  std::string code;     // "unknown_key", "minimum", "type", "ignored_section", "yaml", ...
  std::string message;  // one sentence
  std::string source;   // where the value came from: "file", "MLXS_...", "--set", "default"

  std::string to_string() const;  // "json_rpc.default_timeout_ms: [minimum] ... (from file)"
};

struct ConfigInputs {
  std::optional<std::string> file;  // none: defaults, environment and flags only
  // NAME=value pairs; only MLXS_<SECTION>__<KEY>[__<KEY>...] are overrides.
  // MLXS_ENV (else NODE_ENV) picks the file's `environments` block.
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<std::string> sets;  // "section.key=value" (value typed as in YAML)
};

struct ConfigReport {
  core::Json effective = core::Json::object();  // the merged configuration
  std::vector<ConfigIssue> errors;
  std::vector<ConfigIssue> warnings;
  bool ok() const { return errors.empty(); }
  // ConfigError listing every error (ok when none).
  core::Status status() const;
};

ConfigReport load_config(const ConfigInputs& inputs);

// This process's environment as NAME=value pairs.
std::vector<std::pair<std::string, std::string>> process_environment();

// Every default of the schema, as a configuration document.
core::Json config_defaults();

// The `tracing` section, handed to serve's tracer and to every worker.
struct TracingConfig {
  std::string endpoint;  // "" when null: tracing off
  std::string service_name = "mlx-serving";
  double sample_ratio = 1.0;
  int batch_size = 512;
  int queue_limit = 2048;
  int export_timeout_ms = 10000;
};

// The worker flags that carry `tracing` (none when tracing is off).
std::vector<std::string> tracing_worker_args(const TracingConfig& tracing);

// What the control plane takes from a valid configuration.
struct ControlConfig {
  SupervisorOptions supervisor;
  int workers = 1;
  bool in_process = false;
  std::vector<std::string> worker_args;  // after `mlx-serving runtime`, for every worker
  std::string backend = "cpu";           // workers.backend
  std::vector<int> devices;              // workers.devices (empty: device 0)
  int tensor_parallel = 1;               // workers.tensor_parallel
  std::string default_quantization;      // model.default_quantization ("" for none)
  std::string log_level = "info";        // logging.level
  std::string log_format = "auto";       // logging.format
  std::vector<std::pair<std::string, std::string>> log_modules;  // logging.modules
  TracingConfig tracing;
};

// The CUDA device of worker `index`: devices[index mod size], or 0.
int worker_device(const ControlConfig& config, int index);
ControlConfig control_config(const core::Json& effective);

// The closest of `candidates` to `word` when near enough to be a typo.
std::optional<std::string> did_you_mean(const std::string& word,
                                        const std::vector<std::string>& candidates);

}  // namespace mlxs::control
