// `mlx-serving config validate FILE | schema | show`: the configuration as
// the control plane will see it (file, then MLXS_SECTION__KEY environment
// variables, then --set flags), validated against its JSON Schema.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "control/config.h"
#include "control/config_schema.h"

namespace mlxs::cli {
namespace {

struct ConfigArgs {
  std::string file;
  std::vector<std::string> sets;
  bool no_env = false;
  bool json = false;
};

control::ConfigInputs inputs_of(const ConfigArgs& a, bool default_file) {
  control::ConfigInputs in;
  if (!a.file.empty()) {
    in.file = a.file;
  } else if (default_file && std::filesystem::exists(control::kDefaultConfigPath)) {
    in.file = std::string(control::kDefaultConfigPath);
  }
  if (!a.no_env) in.environment = control::process_environment();
  in.sets = a.sets;
  return in;
}

core::Json issues_json(const std::vector<control::ConfigIssue>& issues) {
  core::Json out = core::Json::array();
  for (const auto& i : issues) {
    out.push_back(
        {{"path", i.path}, {"code", i.code}, {"message", i.message}, {"source", i.source}});
  }
  return out;
}

int report(const control::ConfigReport& r, const ConfigArgs& a, const std::string& what) {
  if (a.json) {
    std::cout << core::Json{{"valid", r.ok()},
                            {"errors", issues_json(r.errors)},
                            {"warnings", issues_json(r.warnings)}}
                     .dump(2)
              << "\n";
    return r.ok() ? 0 : 1;
  }
  for (const auto& w : r.warnings) std::cerr << "warning: " << w.to_string() << "\n";
  for (const auto& e : r.errors) std::cerr << "error: ConfigError: " << e.to_string() << "\n";
  if (!r.ok()) {
    std::cerr << r.errors.size() << " error" << (r.errors.size() == 1 ? "" : "s") << " in " << what
              << "\n";
    return 1;
  }
  std::cout << what << " is valid\n";
  return 0;
}

void add_common(CLI::App* cmd, ConfigArgs& a) {
  cmd->add_option("--set", a.sets, "Override one key: section.key=value (repeatable)");
  cmd->add_flag("--no-env", a.no_env, "Ignore MLXS_SECTION__KEY environment variables");
}

}  // namespace

void add_config_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<ConfigArgs>();
  CLI::App* cmd = parent.add_subcommand("config", "Validate, export or show the configuration");
  cmd->require_subcommand(1);

  CLI::App* validate = cmd->add_subcommand("validate", "Validate a configuration file as a whole");
  validate->add_option("file", args->file, "The YAML file")->required();
  validate->add_flag("--json", args->json, "Print the report as JSON on stdout");
  add_common(validate, *args);
  validate->callback([args, action] {
    *action = [args] {
      return report(control::load_config(inputs_of(*args, false)), *args, args->file);
    };
  });

  CLI::App* schema = cmd->add_subcommand("schema", "Print the configuration's JSON Schema");
  schema->callback([action] {
    *action = [] {
      std::cout << control::config_schema_text();
      return 0;
    };
  });

  CLI::App* show = cmd->add_subcommand(
      "show", "Print the effective configuration (defaults, file, environment, --set)");
  show->add_option("--config", args->file,
                   "The YAML file (default: config/runtime.yaml if present)");
  add_common(show, *args);
  show->callback([args, action] {
    *action = [args] {
      const auto r = control::load_config(inputs_of(*args, true));
      for (const auto& w : r.warnings) std::cerr << "warning: " << w.to_string() << "\n";
      if (!r.ok()) return report(r, *args, args->file.empty() ? "the configuration" : args->file);
      std::cout << r.effective.dump(2) << "\n";
      return 0;
    };
  });
}

}  // namespace mlxs::cli
