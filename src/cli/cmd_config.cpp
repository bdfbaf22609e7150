// `mlx-serving config validate FILE | schema | show`: the configuration as
// the control plane will see it (file, then MLXS_SECTION__KEY environment
// variables, then --set flags), validated against its JSON Schema.
// `config migrate FILE [--out FILE]`: the original mlx-serving's runtime.yaml
// turned into ours, with a line for every key saying what became of it.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "control/config.h"
#include "control/config_migrate.h"
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

struct MigrateArgs {
  std::string file;
  std::string out;
  bool json = false;
};

core::Json migration_json(const control::Migration& m) {
  core::Json keys = core::Json::array();
  for (const auto& e : m.entries) {
    core::Json j = {{"key", e.key}, {"action", control::migration_action_name(e.action)}};
    if (!e.target.empty()) j["target"] = e.target;
    if (!e.note.empty()) j["note"] = e.note;
    keys.push_back(std::move(j));
  }
  return {{"valid", m.errors.empty()}, {"keys", keys}, {"errors", m.errors}};
}

// The migrated file goes to --out (report on stdout) or to stdout (report on
// stderr), so `config migrate old.yaml > new.yaml` works too.
int run_migrate(const MigrateArgs& a) {
  constexpr std::size_t kMaxBytes = 4u << 20;
  auto text = core::read_file(a.file, a.file, kMaxBytes);
  if (!text.is_ok()) return report_error("ConfigError", text.status().message());
  auto m = control::migrate_original_config(*text, a.file);
  if (!m.is_ok()) return report_error(std::string(m.status().code_name()), m.status().message());
  std::ostream& report_out = a.out.empty() ? std::cerr : std::cout;
  if (a.json) {
    report_out << migration_json(*m).dump(2, ' ', false, core::Json::error_handler_t::replace)
               << "\n";
  } else {
    report_out << control::migration_report(*m);
  }
  if (!m->errors.empty()) {
    for (const auto& e : m->errors) {
      std::cerr << "error: ConfigError: the migrated configuration is invalid: " << e << "\n";
    }
    std::cerr << "nothing written: fix these values in " << a.file << " and migrate again\n";
    return 1;
  }
  const std::string yaml =
      control::migration_yaml(*m, std::filesystem::path(a.file).filename().string());
  if (a.out.empty()) {
    std::cout << yaml;
    return 0;
  }
  std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
  out << yaml;
  out.close();
  if (!out) return report_error("IoError", "cannot write " + a.out);
  if (!a.json) std::cout << "wrote " << a.out << "\n";
  return 0;
}

void add_common(CLI::App* cmd, ConfigArgs& a) {
  cmd->add_option("--set", a.sets, "Override one key: section.key=value (repeatable)");
  cmd->add_flag("--no-env", a.no_env, "Ignore MLXS_SECTION__KEY environment variables");
}

}  // namespace

void add_config_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<ConfigArgs>();
  CLI::App* cmd =
      parent.add_subcommand("config", "Validate, export, show or migrate the configuration");
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

  auto margs = std::make_shared<MigrateArgs>();
  CLI::App* migrate = cmd->add_subcommand(
      "migrate",
      "Convert the original mlx-serving's runtime.yaml into this engine's configuration");
  migrate->add_option("file", margs->file, "The original's runtime.yaml")->required();
  migrate->add_option("--out", margs->out, "Write the result here (default: stdout)");
  migrate->add_flag("--json", margs->json, "Print the report as JSON");
  migrate->callback([margs, action] { *action = [margs] { return run_migrate(*margs); }; });

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
