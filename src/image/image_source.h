#pragma once
// Where image bytes come from: a data URI ("data:image/png;base64,..."), bare
// base64, or a local file under one of the configured root directories. No
// network. Every refusal is InvalidParams; messages name what the client sent,
// never the server's resolved paths.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxs::image {

struct SourceLimits {
  std::size_t max_bytes = 32u << 20;     // decoded bytes of one image
  std::vector<std::string> local_roots;  // empty: local files refused
};

// Strict RFC 4648 base64: the standard alphabet, '=' padding only at the end
// (optional when the length says so), no whitespace or other characters. The
// decoded size is checked against max_bytes before anything is decoded.
core::Result<std::vector<std::uint8_t>> decode_base64(std::string_view text, std::size_t max_bytes);

// "data:image/<png|jpeg|jpg|webp|gif>;base64,<payload>" (parameters such as
// ";charset=..." before ";base64" are accepted). Other media types, URIs
// without ";base64" and bad payloads are refused.
core::Result<std::vector<std::uint8_t>> decode_data_uri(std::string_view uri,
                                                        std::size_t max_bytes);

// Reads `path` (absolute, or relative to the first root; "file://" prefix
// allowed) when its canonical form lies inside a root's canonical form: "..",
// symlinks pointing outside, non-regular files and files over max_bytes are
// refused.
core::Result<std::vector<std::uint8_t>> read_local_image(std::string_view path,
                                                         const SourceLimits& limits);

// One entry point for what a request carries: a data URI, a file:// URL,
// bare base64 (the base64 alphabet, a multiple of 4 characters), else a file
// path; files only when roots are configured. http(s) URLs are refused here
// (the worker fetches those from allowed hosts: runtime/image_url).
core::Result<std::vector<std::uint8_t>> load_image_bytes(std::string_view source,
                                                         const SourceLimits& limits);

}  // namespace mlxs::image
