#include "control/config_schema.h"

#include <memory>
#include <mutex>

namespace mlxs::control {

core::Result<const ConfigSchema*> config_schema() {
  static std::once_flag once;
  static std::unique_ptr<ConfigSchema> compiled;
  static core::Status error;
  std::call_once(once, [] {
    auto doc =
        core::parse_json(config_schema_text(), "config.schema.json", core::ErrorCode::kConfigError);
    if (!doc.is_ok()) {
      error = doc.status();
      return;
    }
    schema::CompileOptions options;
    options.error_code = core::ErrorCode::kConfigError;
    auto s = schema::Schema::compile(*doc, options);
    if (!s.is_ok()) {
      error = s.status();
      return;
    }
    compiled = std::make_unique<ConfigSchema>(ConfigSchema{std::move(*doc), std::move(*s)});
  });
  if (!compiled) return error;
  return compiled.get();
}

}  // namespace mlxs::control
