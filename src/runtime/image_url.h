#pragma once
// Images fetched from http(s) URLs, for the hosts an operator allows and no
// others: off until `images.url_allow` names hosts. One deadline covers
// resolving, connecting, TLS, redirects and reading; the answer's size is
// checked against the limit from its header before the body is read, and
// again while reading. Redirects are followed only to allowed hosts, and an
// https URL never redirects to http. Every refusal is InvalidParams naming
// what the client sent (its host, the status), never the server's own state.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "image/image_source.h"

namespace mlxs::runtime {

struct ImageUrlPolicy {
  // Host names ("images.example.com") or suffix patterns ("*.example.com",
  // which matches its subdomains, not the bare domain); case-insensitive, any
  // port. Empty: URLs are refused.
  std::vector<std::string> allow_hosts;
  std::size_t max_bytes = 10u << 20;
  int timeout_ms = 10000;
  int max_redirects = 3;
  // More trusted certificates (PEM) beside the system's store: a private CA
  // (read once per worker process, as the system's store is).
  std::string ca_file;
};

struct ImageUrl {
  bool tls = false;
  std::string host;  // lower case
  std::string port;
  std::string target;  // path and query, at least "/"
};

// True for sources that start with http:// or https:// (any case).
bool is_image_url(std::string_view source);

// "http(s)://host[:port][/path][?query]": no user info, no fragment, no
// spaces or control characters; IPv6 literals are not accepted.
core::Result<ImageUrl> parse_image_url(std::string_view url);

bool host_allowed(std::string_view host, const std::vector<std::string>& allow_hosts);

// A config entry of allow_hosts: a host name or "*." + host name.
bool valid_allow_entry(std::string_view entry);

core::Result<std::vector<std::uint8_t>> fetch_image_url(std::string_view url,
                                                        const ImageUrlPolicy& policy);

// Everywhere a worker may take images from.
struct ImageSources {
  image::SourceLimits files{10u << 20, {}};  // data URIs, base64, files under roots
  ImageUrlPolicy urls;                       // http(s): off until hosts are allowed
};

// A request's image source: an http(s) URL is fetched under `urls`, anything
// else goes to image::load_image_bytes under `files`.
core::Result<std::vector<std::uint8_t>> load_image_source(std::string_view source,
                                                          const ImageSources& sources);

}  // namespace mlxs::runtime
