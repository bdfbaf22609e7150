#pragma once
// The built-in web UI (web/ at the repository root, compiled in by
// cmake/embed_web.cmake): what GET / and GET /ui/{asset} answer. Pure: no
// sockets, so the answers (content types, ETag revalidation, unknown and
// traversal paths) are unit-tested directly. Assets are public on purpose:
// the page itself asks for the API key, the API stays protected.

#include <optional>
#include <span>
#include <string_view>

namespace mlxs::server {

struct WebAsset {
  std::string_view path;  // relative to web/: "index.html", "ui/js/chat.js"
  std::string_view etag;  // quoted strong validator, from the content's hash
  std::string_view text;
};

// Every file of web/, sorted by path (generated at build time).
std::span<const WebAsset> embedded_web_assets();

struct AssetAnswer {
  int status = 404;  // 200, 304, or 404 (unknown asset: a coded JSON error)
  std::string_view content_type;
  std::string_view etag;
  std::string_view body;  // empty on 304 and 404
};

// The asset at URL path `url_path` ("/" or "/ui/..."), already
// percent-decoded; `if_none_match` is the request's If-None-Match header.
AssetAnswer web_asset_answer(std::string_view url_path, std::string_view if_none_match,
                             std::span<const WebAsset> assets = embedded_web_assets());

// Content-Type by file extension (text types carry charset=utf-8).
std::string_view web_content_type(std::string_view path);

// Every asset is revalidated on each load: the names carry no version, so an
// upgraded binary must never be hidden behind a cached old script.
inline constexpr std::string_view kWebCacheControl = "no-cache";

// Scripts, styles and connections from this origin only: the page needs no
// CDN, and nothing injected can load from elsewhere.
inline constexpr std::string_view kWebContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'";

}  // namespace mlxs::server
