#pragma once
// What becomes of each key of the original's runtime.yaml: the table behind
// `config migrate` and docs/migration.md (keep the two in step).

#include <string_view>
#include <vector>

#include "control/config_migrate.h"

namespace mlxs::control {

enum class RuleKind {
  kHonoured,        // same path, same meaning: copied
  kMove,            // copied to `target`
  kDebugLevel,      // true -> logging.level: debug
  kNoIpcBatching,   // false -> workers.extra_args += --no-ipc-batching
  kTokensPerBatch,  // n -> workers.extra_args += --max-tokens-per-batch n
  kDropped,
};

struct MigrationRule {
  std::string_view key;  // dotted path; also covers every key below it
  RuleKind kind;
  std::string_view target;  // kMove: where; else informative
  std::string_view note;    // why
};

// Longest rule whose key is `path` or a prefix of it at a dot; nullptr when
// the path is not a key of the original's file.
const MigrationRule* find_migration_rule(std::string_view path);

}  // namespace mlxs::control
