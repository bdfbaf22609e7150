// Walks the original file's keys, applies config_migrate_rules to each leaf,
// and validates what it wrote against our schema (once for the base file and
// once per environment block merged over it, as the loader will see them).
#include "control/config_migrate.h"

#include <algorithm>

#include <fmt/format.h>

#include "control/config_migrate_rules.h"
#include "control/config_schema.h"
#include "control/yaml_json.h"

namespace mlxs::control {

using core::Json;

namespace {

constexpr std::string_view kUnknown =
    "not a key of the original's runtime.yaml (compat/config.md) nor of ours";

// Sets a dotted path inside `out`, making sections on the way.
void set_path(Json& out, std::string_view path, Json value) {
  Json* node = &out;
  for (;;) {
    const auto dot = path.find('.');
    const std::string part(path.substr(0, dot));
    if (dot == std::string_view::npos) {
      (*node)[part] = std::move(value);
      return;
    }
    Json& next = (*node)[part];
    if (!next.is_object()) next = Json::object();
    node = &next;
    path.remove_prefix(dot + 1);
  }
}

void add_worker_args(Json& out, std::initializer_list<std::string> args) {
  Json& workers = out["workers"];
  if (!workers.is_object()) workers = Json::object();
  Json& extra = workers["extra_args"];
  if (!extra.is_array()) extra = Json::array();
  for (const auto& a : args) extra.push_back(a);
}

class Migrator {
 public:
  explicit Migrator(Migration& m) : m_(m) {}

  // `prefix` names the input path ("environments.test." inside a block);
  // `rel` is the path the rules know; `out` receives the written keys.
  void walk(const Json& node, const std::string& prefix, const std::string& rel, Json& out) {
    for (const auto& [key, value] : node.items()) {
      const std::string path = rel.empty() ? key : rel + "." + key;
      if (value.is_object() && !value.empty()) {
        walk(value, prefix, path, out);
      } else {
        leaf(prefix + path, path, value, out);
      }
    }
  }

 private:
  void leaf(const std::string& full, const std::string& path, const Json& value, Json& out) {
    const MigrationRule* rule = find_migration_rule(path);
    MigrationEntry e{full, MigrationAction::kDropped, "", ""};
    if (rule == nullptr) {
      e.note = std::string(kUnknown);
      m_.entries.push_back(std::move(e));
      return;
    }
    e.note = std::string(rule->note);
    switch (rule->kind) {
      case RuleKind::kHonoured:
        e.action = MigrationAction::kHonoured;
        set_path(out, path, value);
        break;
      case RuleKind::kMove:
        e.action = MigrationAction::kMapped;
        e.target = std::string(rule->target);
        set_path(out, rule->target, value);
        break;
      case RuleKind::kDebugLevel:
        e.action = MigrationAction::kMapped;
        e.target = std::string(rule->target);
        if (value == Json(true)) {
          set_path(out, rule->target, "debug");
        } else {
          e.note = "not true: the default level (info) applies";
        }
        break;
      case RuleKind::kNoIpcBatching:
        e.action = MigrationAction::kMapped;
        e.target = std::string(rule->target);
        if (value == Json(false)) {
          add_worker_args(out, {"--no-ipc-batching"});
        } else {
          e.note = "not false: batching is the worker's default, nothing to write";
        }
        break;
      case RuleKind::kTokensPerBatch:
        if (value.is_number_integer() && value.get<std::int64_t>() >= 1 &&
            value.get<std::int64_t>() <= 1024) {
          e.action = MigrationAction::kMapped;
          e.target = std::string(rule->target);
          add_worker_args(out, {"--max-tokens-per-batch", std::to_string(value.get<int>())});
        } else {
          e.note = "not an integer from 1 to 1024, the worker's range";
        }
        break;
      case RuleKind::kDropped:
        break;
    }
    m_.entries.push_back(std::move(e));
  }

  Migration& m_;
};

void deep_merge(Json& base, const Json& over) {
  for (const auto& [key, value] : over.items()) {
    if (base.contains(key) && base[key].is_object() && value.is_object()) {
      deep_merge(base[key], value);
    } else {
      base[key] = value;
    }
  }
}

std::string dotted(std::string pointer) {
  if (!pointer.empty() && pointer.front() == '/') pointer.erase(0, 1);
  for (auto& c : pointer) {
    if (c == '/') c = '.';
  }
  return pointer;
}

void validate(Migration& m) {
  auto schema = config_schema();
  if (!schema.is_ok()) {
    m.errors.push_back(schema.status().message());
    return;
  }
  Json base = m.config;
  base.erase("environments");
  auto check = [&](const Json& doc, const std::string& where) {
    for (const auto& e : (*schema)->schema.validate(doc).errors) {
      m.errors.push_back(fmt::format("{}{}: {}", where, dotted(e.instance_path), e.message));
    }
  };
  check(base, "");
  if (const auto envs = m.config.find("environments"); envs != m.config.end()) {
    for (const auto& [name, block] : envs->items()) {
      Json merged = base;
      deep_merge(merged, block);
      check(merged, "environments." + name + ": ");
    }
  }
}

// A key as YAML: plain when it is a simple word, else a JSON (= YAML) string.
std::string yaml_key(const std::string& key) {
  const bool plain =
      !key.empty() && key.find_first_not_of(
                          "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos;
  return plain ? key : Json(key).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Block mappings for sections; every other value in JSON, which is YAML 1.2's
// flow syntax (strings stay quoted, so they stay strings).
void emit(const Json& node, int indent, std::string& out) {
  for (const auto& [key, value] : node.items()) {
    out += std::string(static_cast<std::size_t>(indent), ' ') + yaml_key(key) + ":";
    if (value.is_object() && !value.empty()) {
      out += "\n";
      emit(value, indent + 2, out);
    } else {
      // Bytes that are not UTF-8 become U+FFFD rather than an exception.
      out += " " + value.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    }
  }
}

}  // namespace

std::string_view migration_action_name(MigrationAction action) {
  switch (action) {
    case MigrationAction::kHonoured:
      return "honoured";
    case MigrationAction::kMapped:
      return "mapped";
    case MigrationAction::kDropped:
      return "dropped";
  }
  return "dropped";
}

core::Result<Migration> migrate_original_config(std::string_view yaml_text,
                                                const std::string& display_name) {
  MLXS_ASSIGN_OR_RETURN(Json doc, yaml_to_json(yaml_text, display_name));
  if (!doc.is_object()) {
    return core::make_error(core::ErrorCode::kConfigError,
                            "{}: the document is not a mapping of sections", display_name);
  }
  Migration m;
  Migrator walker(m);
  for (const auto& [key, value] : doc.items()) {
    if (key != "environments") {
      Json section = Json::object();
      section[key] = value;
      walker.walk(section, "", "", m.config);
      continue;
    }
    if (!value.is_object()) {
      m.entries.push_back({"environments", MigrationAction::kDropped, "",
                           "not a mapping of environment names to overrides"});
      continue;
    }
    for (const auto& [name, block] : value.items()) {
      const std::string prefix = "environments." + name + ".";
      if (!block.is_object()) {
        m.entries.push_back(
            {"environments." + name, MigrationAction::kDropped, "", "not a mapping of overrides"});
        continue;
      }
      Json out = Json::object();
      walker.walk(block, prefix, "", out);
      if (!out.empty()) m.config["environments"][name] = std::move(out);
    }
  }
  std::sort(m.entries.begin(), m.entries.end(),
            [](const MigrationEntry& a, const MigrationEntry& b) { return a.key < b.key; });
  validate(m);
  return m;
}

std::string migration_yaml(const Migration& m, const std::string& source_name) {
  std::string out = fmt::format(
      "# mlx-serving configuration, migrated from the original mlx-serving's {}\n"
      "# by `mlx-serving config migrate`. Only keys that take effect are written; every\n"
      "# other key has its default (`mlx-serving config show --config FILE` lists them).\n",
      source_name);
  if (m.config.empty()) {
    out += "{}\n";
  } else {
    emit(m.config, 0, out);
  }
  return out;
}

std::string migration_report(const Migration& m) {
  std::string out;
  int counts[3] = {0, 0, 0};
  for (const auto& e : m.entries) {
    ++counts[static_cast<int>(e.action)];
    out += fmt::format("{:<9}{}", migration_action_name(e.action), e.key);
    if (!e.target.empty()) out += " \u2192 " + e.target;
    if (!e.note.empty()) out += ": " + e.note;
    out += "\n";
  }
  out += fmt::format("{} key{}: {} honoured, {} mapped, {} dropped\n", m.entries.size(),
                     m.entries.size() == 1 ? "" : "s", counts[0], counts[1], counts[2]);
  return out;
}

}  // namespace mlxs::control
