#pragma once
// `mlx-serving config migrate`: turns the original mlx-serving's
// config/runtime.yaml (../shared/compat/config.md) into this engine's
// configuration, and says for every key of the input what became of it:
// honoured as is (same key, same meaning here), mapped (to another key, or to
// a worker flag), or dropped with the reason. Only keys that have an effect
// are written; everything else keeps our defaults (`config show` lists them).
// `environments` blocks are migrated key by key with the same rules.

#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"

namespace mlxs::control {

enum class MigrationAction { kHonoured, kMapped, kDropped };
std::string_view migration_action_name(MigrationAction action);  // "honoured", ...

struct MigrationEntry {
  std::string key;  // the original's dotted path, e.g. "environments.test.json_rpc.retry.jitter"
  MigrationAction action = MigrationAction::kDropped;
  std::string target;  // mapped: where it went ("supervisor.restart_backoff.initial_ms")
  std::string note;    // why (always set for dropped keys)
};

struct Migration {
  core::Json config = core::Json::object();  // ours: only the keys written
  std::vector<MigrationEntry> entries;       // one per key of the input, sorted by path
  // Problems of the result against schemas/config.schema.json (a value the
  // original accepted but we bound more tightly); empty when it validates.
  std::vector<std::string> errors;
};

// ConfigError on YAML that does not parse (with line and column), a document
// that is not a mapping, or one past the YAML reader's bounds.
core::Result<Migration> migrate_original_config(std::string_view yaml_text,
                                                const std::string& display_name);

// The migrated configuration as a YAML file, with a header saying where it
// came from.
std::string migration_yaml(const Migration& migration, const std::string& source_name);

// The report: one line per key and a summary line.
std::string migration_report(const Migration& migration);

}  // namespace mlxs::control
