#include "server/web_assets.h"

#include <utility>

namespace mlxs::server {

namespace {

// The file behind a URL path: "/" is the page, "/ui/<x>" is web/ui/<x>.
// Only exact names of the embedded table match, so "..", "//", "\" or an
// encoded variant can never reach anything else; they are refused up front
// anyway so no odd path is ever looked up.
std::optional<std::string_view> asset_path(std::string_view url_path) {
  if (url_path == "/") return "index.html";
  constexpr std::string_view kPrefix = "/ui/";
  if (!url_path.starts_with(kPrefix) || url_path.size() == kPrefix.size()) return std::nullopt;
  const std::string_view rel = url_path.substr(1);
  if (rel.find("..") != std::string_view::npos || rel.find("//") != std::string_view::npos ||
      rel.find('\\') != std::string_view::npos || rel.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  return rel;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match is a list of entity tags or "*"; weak comparison (RFC 9110
// 13.1.2), so a proxy's W/ prefix still revalidates.
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

}  // namespace

std::string_view web_content_type(std::string_view path) {
  constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (path.ends_with(ext)) return type;
  }
  return "application/octet-stream";
}

AssetAnswer web_asset_answer(std::string_view url_path, std::string_view if_none_match,
                             std::span<const WebAsset> assets) {
  const auto rel = asset_path(url_path);
  if (!rel) return {};
  for (const WebAsset& a : assets) {
    if (a.path != *rel) continue;
    AssetAnswer out{200, web_content_type(a.path), a.etag, a.text};
    if (!if_none_match.empty() && etag_matches(if_none_match, a.etag)) {
      out.status = 304;
      out.body = {};
    }
    return out;
  }
  return {};
}

}  // namespace mlxs::server
