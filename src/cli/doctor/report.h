#pragma once
// The doctor's findings: one line per check with a status, what was seen and,
// when something is wrong, what to do about it. Printed for people
// ("[pass] name: detail") or as one JSON document (schemas/doctor.schema.json).

#include <string>
#include <vector>

#include "core/json_util.h"

namespace mlxs::cli::doctor {

// info: worth knowing, never a problem (e.g. a CPU-only build has no GPU check).
enum class Level { kPass, kInfo, kWarn, kFail };

std::string_view level_name(Level level);

struct Check {
  std::string id;       // stable machine name: "cpu.features", "model.weights", ...
  std::string subject;  // what was checked when there are several (a model directory); may be ""
  Level level = Level::kPass;
  std::string detail;  // what was seen
  std::string hint;    // how to fix it; empty for pass and info
};

class Report {
 public:
  void pass(std::string id, std::string subject, std::string detail);
  void info(std::string id, std::string subject, std::string detail);
  void warn(std::string id, std::string subject, std::string detail, std::string hint);
  void fail(std::string id, std::string subject, std::string detail, std::string hint);

  const std::vector<Check>& checks() const { return checks_; }
  Level worst() const;
  // 0 when every check passed, 1 with warnings, 2 with failures.
  int exit_code() const;

  std::string human() const;  // one line per check
  core::Json json() const;    // the document schemas/doctor.schema.json describes

 private:
  std::vector<Check> checks_;
};

}  // namespace mlxs::cli::doctor
