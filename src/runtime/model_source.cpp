#include "runtime/model_source.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace mlxs::runtime {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;

namespace {

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::optional<fs::path> canonical_dir(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  if (ec) return std::nullopt;
  return c;
}

bool inside(const fs::path& dir, const fs::path& root) {
  auto d = dir.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++d) {
    if (r->empty()) continue;  // a trailing separator
    if (d == dir.end() || *d != *r) return false;
  }
  return true;
}

Status trusted(const fs::path& dir, const SourcePolicy& policy, std::string_view what) {
  if (policy.trusted_dirs.empty()) return {};
  for (const auto& root : policy.trusted_dirs) {
    const auto c = canonical_dir(root);
    if (c && inside(dir, *c)) return {};
  }
  return core::make_error(ErrorCode::kModelLoadError, "{} is outside the trusted model directories",
                          what);
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::optional<fs::path> hf_snapshot(const std::string& model_id, const std::string& revision) {
  const std::string hub = hf_hub_cache_dir();
  if (hub.empty() || model_id.find('/') == std::string::npos || model_id.front() == '/')
    return std::nullopt;
  std::string folder = "models--";
  for (char c : model_id) {
    if (c == '/') {
      folder += "--";
    } else {
      folder += c;
    }
  }
  const fs::path repo = fs::path(hub) / folder;
  // A branch or tag names a commit through refs/; a commit names itself.
  std::ifstream ref(repo / "refs" / revision);
  std::string commit;
  if (ref && std::getline(ref, commit)) {
    while (!commit.empty() &&
           (commit.back() == '\n' || commit.back() == '\r' || commit.back() == ' '))
      commit.pop_back();
  } else {
    commit = revision;
  }
  if (commit.empty() || commit.find('/') != std::string::npos ||
      commit.find("..") != std::string::npos) {
    return std::nullopt;
  }
  const fs::path snapshot = repo / "snapshots" / commit;
  if (is_dir(snapshot)) return snapshot;
  return std::nullopt;
}

}  // namespace

std::string hf_hub_cache_dir() {
  if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env("HF_HOME"); !v.empty()) return (fs::path(v) / "hub").string();
  if (auto v = env("XDG_CACHE_HOME"); !v.empty())
    return (fs::path(v) / "huggingface" / "hub").string();
  if (auto v = env("HOME"); !v.empty())
    return (fs::path(v) / ".cache" / "huggingface" / "hub").string();
  return {};
}

core::Result<std::string> resolve_model_dir(const SourceQuery& query, const SourcePolicy& policy) {
  if (query.local_path && !query.local_path->empty()) {
    const std::string& lp = *query.local_path;
    if (lp.find("..") != std::string::npos || lp.find('~') != std::string::npos) {
      return Status(ErrorCode::kInvalidParams, "local_path must not contain '..' or '~'");
    }
    if (lp.front() != '/')
      return Status(ErrorCode::kModelLoadError, "local_path must be an absolute path");
    const auto dir = canonical_dir(lp);
    if (!dir || !is_dir(*dir))
      return Status(ErrorCode::kModelLoadError, "local_path is not an existing directory");
    MLXS_RETURN_IF_ERROR(trusted(*dir, policy, "local_path"));
    return dir->string();
  }
  const std::string& id = query.model_id;
  if (id.empty() || id.find("..") != std::string::npos) {
    return Status(ErrorCode::kInvalidParams,
                  "model_id must be non-empty and must not contain '..'");
  }
  if (is_dir(id)) {
    const auto dir = canonical_dir(id);
    if (dir) {
      MLXS_RETURN_IF_ERROR(trusted(*dir, policy, "model_id"));
      return dir->string();
    }
  }
  if (id.front() != '/') {
    for (const auto& root : policy.model_dirs) {
      const fs::path candidate = fs::path(root) / id;
      if (!is_dir(candidate)) continue;
      if (const auto dir = canonical_dir(candidate)) return dir->string();
    }
  }
  if (const auto snapshot = hf_snapshot(id, query.revision.value_or("main"))) {
    if (const auto dir = canonical_dir(*snapshot)) return dir->string();
  }
  return Status(ErrorCode::kModelLoadError,
                "model not found: not a local directory, not in a model directory and not in the "
                "Hugging Face "
                "cache (nothing is downloaded; pass local_path)");
}

}  // namespace mlxs::runtime
