#include "server/model_paths.h"

#include <filesystem>
#include <system_error>

namespace mlxs::server {

namespace fs = std::filesystem;
using core::ErrorCode;

namespace {

bool inside(const fs::path& dir, const fs::path& root) {
  auto d = dir.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++d) {
    if (r->empty()) continue;  // a trailing separator
    if (d == dir.end() || *d != *r) return false;
  }
  return true;
}

}  // namespace

core::Result<std::string> resolve_model_dir(const std::string& requested,
                                            const std::vector<std::string>& roots) {
  if (roots.empty()) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "loading models over HTTP is off: no model roots are configured");
  }
  if (requested.find('\0') != std::string::npos) {
    return core::make_error(ErrorCode::kInvalidParams, "path is not a valid path");
  }
  const fs::path asked(requested);
  bool outside = false;
  for (const std::string& root_text : roots) {
    std::error_code ec;
    const fs::path root = fs::canonical(root_text, ec);
    if (ec) continue;
    const fs::path candidate = asked.is_absolute() ? asked : root / asked;
    const fs::path real = fs::canonical(candidate, ec);
    if (ec) continue;
    if (!inside(real, root)) {
      outside = true;
      continue;
    }
    if (!fs::is_directory(real, ec)) continue;
    return real.string();
  }
  if (outside) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "path lies outside the configured model roots");
  }
  return core::make_error(ErrorCode::kNotFound,
                          "no model directory of that name under the configured model roots");
}

}  // namespace mlxs::server
