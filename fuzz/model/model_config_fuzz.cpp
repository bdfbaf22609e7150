// Any text is either a config we can serve or a ModelLoadError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json_util.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = mlxs::core::parse_json(text, "config.json", mlxs::core::ErrorCode::kModelLoadError);
  if (!doc) return 0;
  auto cfg = mlxs::model::parse_model_config(*doc, "config.json");
  if (cfg.is_ok() && (cfg->layer_types.size() != static_cast<std::size_t>(cfg->layers) ||
                      cfg->heads % cfg->kv_heads != 0)) {
    __builtin_trap();
  }
  return 0;
}
