#include "protocol/version.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

namespace mlxs::protocol {

namespace {
constexpr std::array<std::string_view, 3> kExtensions = {kExtStreamStep, kExtStreamCancel,
                                                         kExtLoadProgress};

bool parse_part(std::string_view text, int* out) {
  if (text.empty() || text.size() > 4) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return std::from_chars(text.data(), text.data() + text.size(), *out).ec == std::errc();
}
}  // namespace

std::string protocol_version_string() {
  return fmt::format("{}.{}", kProtocolMajor, kProtocolMinor);
}

core::Result<ProtocolVersion> parse_protocol_version(std::string_view text) {
  const auto dot = text.find('.');
  ProtocolVersion v;
  if (dot == std::string_view::npos || !parse_part(text.substr(0, dot), &v.major) ||
      !parse_part(text.substr(dot + 1), &v.minor)) {
    return core::Status(
        core::ErrorCode::kInvalidParams,
        "protocol_version: expected \"major.minor\", e.g. \"" + protocol_version_string() + "\"");
  }
  return v;
}

core::Status check_protocol_version(std::string_view requested) {
  MLXS_ASSIGN_OR_RETURN(ProtocolVersion v, parse_protocol_version(requested));
  if (v.major != kProtocolMajor) {
    return core::make_error(
        core::ErrorCode::kUnsupported,
        "protocol_version {}.{} is not supported: this runtime speaks {}.x (latest {})", v.major,
        v.minor, kProtocolMajor, protocol_version_string());
  }
  return {};
}

std::vector<std::string> negotiate_extensions(std::span<const std::string> requested) {
  std::vector<std::string> out;
  for (const std::string& name : requested) {
    const bool known = std::find(kExtensions.begin(), kExtensions.end(), name) != kExtensions.end();
    if (known && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

std::span<const std::string_view> known_extensions() {
  return kExtensions;
}

}  // namespace mlxs::protocol
