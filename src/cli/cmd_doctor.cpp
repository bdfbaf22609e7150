// `mlx-serving doctor [--model DIR]... [--config FILE] [--json]`: checks the
// machine, the configuration and each model directory before serving, so a
// broken setup is found with a fix hint rather than at the first request.
// Exit code: 0 all passed, 1 warnings, 2 failures.
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>

#include "cli/commands.h"
#include "cli/doctor/checks.h"

namespace mlxs::cli {
namespace {

struct DoctorArgs {
  std::vector<std::string> models;
  std::string config_file;
  bool json = false;
};

// One group's bug must not hide the other groups' findings.
void guarded(doctor::Report& report, const std::string& id, const std::function<void()>& group) {
  try {
    group();
  } catch (const std::exception& e) {
    report.fail(id, "", std::string("the check itself failed: ") + e.what(),
                "please report this as a bug in mlx-serving");
  }
}

int run_doctor(const DoctorArgs& a) {
  doctor::Report report;
  const doctor::Memory memory = doctor::read_memory();
  guarded(report, "cpu", [&] { doctor::check_cpu(report); });
  guarded(report, "memory", [&] { doctor::check_memory(report, memory); });
  guarded(report, "gpu", [&] { doctor::check_gpus(report); });

  // Each model gets the KV cache memory the configuration gives it.
  std::uint64_t kv_mb = 1024;
  if (a.config_file.empty()) {
    report.info("config.file", "",
                "no --config given: defaults apply (port and model roots not checked)");
  } else {
    guarded(report, "config.file", [&] {
      if (const auto config = doctor::check_config(report, a.config_file)) {
        kv_mb = (*config)["workers"]["kv_memory_mb"].get<std::uint64_t>();
        doctor::check_port(report, *config);
        doctor::check_model_roots(report, *config);
      }
    });
  }
  for (const auto& dir : a.models) {
    guarded(report, "model", [&] { doctor::check_model(report, dir, memory, kv_mb << 20); });
  }

  if (a.json) {
    // A path need not be UTF-8: such bytes print as U+FFFD rather than failing.
    std::cout << report.json().dump(2, ' ', false, core::Json::error_handler_t::replace) << "\n";
  } else {
    std::cout << report.human();
  }
  return report.exit_code();
}

}  // namespace

void add_doctor_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<DoctorArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "doctor", "Check the machine, a configuration and model directories before serving");
  cmd->add_option("--model", args->models, "Model directory to check (repeatable)");
  cmd->add_option("--config", args->config_file, "Configuration file to check");
  cmd->add_flag("--json", args->json,
                "Print one JSON document (schemas/doctor.schema.json) instead of lines");
  cmd->callback([args, action] { *action = [args] { return run_doctor(*args); }; });
}

}  // namespace mlxs::cli
