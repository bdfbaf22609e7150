#include "cli/image_flags.h"

namespace mlxs::cli {

void add_image_options(CLI::App* cmd, ImageArgs* a) {
  cmd->add_option("--image-max-mb", a->max_mb, "Largest image file a request may send, MiB")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--image-root", a->roots,
                  "Requests may name image files inside this directory (repeatable; none: "
                  "local files are refused)");
  cmd->add_option("--image-url-allow", a->url_allow,
                  "Fetch http(s) image URLs from this host, or from the subdomains of "
                  "example.com for *.example.com (repeatable; none: URLs are refused)")
      ->check([](const std::string& entry) {
        return runtime::valid_allow_entry(entry)
                   ? std::string()
                   : std::string("a host name or *.domain, without scheme, port or path");
      });
  cmd->add_option("--image-url-timeout-ms", a->url_timeout_ms,
                  "Deadline of one image fetch, redirects included")
      ->check(CLI::Range(100, 120000));
  cmd->add_option("--image-ca-file", a->ca_file,
                  "PEM certificates trusted for https image URLs beside the system's store")
      ->check(CLI::ExistingFile);
}

runtime::ImageSources image_sources(const ImageArgs& a) {
  runtime::ImageSources s;
  const std::size_t max_bytes = static_cast<std::size_t>(a.max_mb) << 20;
  s.files.max_bytes = max_bytes;
  s.files.local_roots = a.roots;
  s.urls.allow_hosts = a.url_allow;
  s.urls.max_bytes = max_bytes;
  s.urls.timeout_ms = a.url_timeout_ms;
  s.urls.ca_file = a.ca_file;
  return s;
}

std::vector<std::string> image_flag_args(const ImageArgs& a) {
  std::vector<std::string> out = {"--image-max-mb", std::to_string(a.max_mb),
                                  "--image-url-timeout-ms", std::to_string(a.url_timeout_ms)};
  for (const auto& d : a.roots) out.insert(out.end(), {"--image-root", d});
  for (const auto& h : a.url_allow) out.insert(out.end(), {"--image-url-allow", h});
  if (!a.ca_file.empty()) out.insert(out.end(), {"--image-ca-file", a.ca_file});
  return out;
}

}  // namespace mlxs::cli
