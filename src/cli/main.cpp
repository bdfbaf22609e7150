// mlx-serving: one executable, subcommands for every job.
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "build_info.h"
#include "cli/commands.h"
#include "cli/log_flags.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"mlx-serving: an LLM serving engine for the CPU and NVIDIA GPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mlx-serving ") + MLXS_VERSION);
  std::string log_level = "info";
  auto* level_flag = app.add_option("--log-level", log_level,
                                    "debug, info, warn, error or off (default: the configuration's "
                                    "logging.level, else info)")
                         ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
  std::string log_format = "auto";
  auto* format_flag =
      app.add_option("--log-format", log_format,
                     "json (one object per line), text, or auto: text on a terminal, else json")
          ->check(CLI::IsMember({"auto", "json", "text"}));
  std::vector<std::string> log_modules;
  auto* module_flag = app.add_option("--log-module", log_modules,
                                     "MODULE=LEVEL: a module's own level, e.g. runtime=debug "
                                     "(repeatable; a module is an event name's first word)");

  mlxs::cli::Action action;
  mlxs::cli::add_generate_command(app, &action);
  mlxs::cli::add_dev_command(app, &action);
  mlxs::cli::add_bench_command(app, &action);
  mlxs::cli::add_runtime_command(app, &action);
  mlxs::cli::add_serve_command(app, &action);
  mlxs::cli::add_bench_serve_command(app, &action);
  mlxs::cli::add_bench_cluster_command(app, &action);
  mlxs::cli::add_config_command(app, &action);
  mlxs::cli::add_doctor_command(app, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (const auto error = mlxs::cli::apply_log_flags(log_level, log_format, log_modules)) {
    mlxs::cli::report_error("InvalidParams", *error);
    return 2;  // a usage error, as CLI11's own
  }
  mlxs::cli::set_log_flags_given(
      {level_flag->count() > 0, format_flag->count() > 0, module_flag->count() > 0});
  if (!action) return 2;
  try {
    return action();
  } catch (const std::exception& e) {
    // A bug, not bad input: say so without a stack trace or internal details.
    return mlxs::cli::report_error("InternalError", std::string("unexpected failure: ") + e.what());
  }
}
